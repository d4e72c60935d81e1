"""The payload codec of every client: a payload of `threshold` bytes or more is stored in Temporal
zlib-compressed (encoding `binary/zlib`, the whole original payload inside), smaller ones as they are, so
the Temporal UI shows most inputs and results readably and large ones cost a fraction of their size. A
payload without the codec's encoding (older histories, other clients) decodes to itself.

The Temporal UI shows compressed payloads once it is pointed at the API's codec endpoint
(`/v1/codec/decode`, `api.routes.codec`)."""

import dataclasses
import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/zlib"
THRESHOLD_BYTES = 4096


class CompressionCodec(PayloadCodec):
    def __init__(self, threshold: int = THRESHOLD_BYTES) -> None:
        self.threshold = threshold

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encode(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode(payload) for payload in payloads]

    def _encode(self, payload: Payload) -> Payload:
        raw = payload.SerializeToString()
        if len(raw) < self.threshold:
            return payload
        return Payload(metadata={"encoding": ENCODING}, data=zlib.compress(raw, 6))

    def _decode(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        return Payload.FromString(zlib.decompress(payload.data))


DATA_CONVERTER: DataConverter = dataclasses.replace(pydantic_data_converter, payload_codec=CompressionCodec())
"""Pydantic models as JSON, compressed above THRESHOLD_BYTES: what every client, worker and replayer uses."""
