"""The payload codec: a payload of 4 KB or more is stored zlib-compressed and decodes to exactly what was
encoded; smaller ones, and payloads without its encoding (older histories), pass unchanged; through the
data converter a model round-trips."""

import zlib

from pydantic import BaseModel
from temporalio.api.common.v1 import Payload

from optiinfra.engine.codec import DATA_CONVERTER, ENCODING, THRESHOLD_BYTES, CompressionCodec


class Series(BaseModel):
    values: list[float]


def _payload(size: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b"[" + b"0.25," * (size // 5) + b"0]")


async def test_large_payloads_are_compressed_and_decode_to_what_was_encoded() -> None:
    codec = CompressionCodec()
    large, small = _payload(50_000), _payload(100)
    encoded = await codec.encode([large, small])
    assert encoded[0].metadata["encoding"] == ENCODING
    assert len(encoded[0].data) < len(large.data) / 20
    assert encoded[1] == small  # under the threshold: as it was
    assert await codec.decode(encoded) == [large, small]


async def test_a_payload_at_the_threshold_is_compressed_one_below_is_not() -> None:
    codec = CompressionCodec(threshold=THRESHOLD_BYTES)
    at = Payload(data=b"x" * THRESHOLD_BYTES)
    below = Payload(data=b"x" * (THRESHOLD_BYTES - 10))
    assert len(at.SerializeToString()) >= THRESHOLD_BYTES > len(below.SerializeToString())
    encoded = await codec.encode([at, below])
    assert [p.metadata.get("encoding") for p in encoded] == [ENCODING, None]


async def test_payloads_of_other_encodings_decode_to_themselves() -> None:
    foreign = Payload(metadata={"encoding": b"binary/encrypted"}, data=zlib.compress(b"secret"))
    assert await CompressionCodec().decode([foreign]) == [foreign]


async def test_the_data_converter_round_trips_a_model_through_the_codec() -> None:
    series = Series(values=[0.5] * 5000)
    payloads = await DATA_CONVERTER.encode([series])
    assert payloads[0].metadata["encoding"] == ENCODING
    assert await DATA_CONVERTER.decode(payloads, [Series]) == [series]
