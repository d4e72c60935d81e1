"""The codec endpoint the Temporal UI (and the `temporal` CLI's `--codec-endpoint`) decodes OptiInfra's
payloads with: the UI's "Codec Server" setting pointed at `<api>/v1/codec`. Payloads are Temporal's JSON form
(`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`), answered in the same form.

Decoded payloads hold every customer's data, so only a platform admin may ask (the UI passes its user's
access token when told to)."""

import base64
from typing import Annotated

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from google.protobuf.json_format import ParseDict, ParseError
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import PrincipalDep, require_platform_admin
from api.errors import StrictJSONRoute
from optiinfra.engine.codec import CompressionCodec

router = APIRouter(prefix="/codec", tags=["codec"], route_class=StrictJSONRoute)
CODEC = CompressionCodec()


BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
Base64 = Annotated[str, Field(pattern=BASE64)]


class PayloadJson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Base64] = Field(default_factory=dict, description="Values base64-encoded")
    data: Base64 = Field(default="", description="Base64-encoded")


class PayloadsJson(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}]
        },
    )

    payloads: list[PayloadJson]


def _payloads(body: PayloadsJson) -> list[Payload]:
    try:
        return list(ParseDict(body.model_dump(), Payloads()).payloads)
    except (ParseError, TypeError, ValueError) as error:
        raise _invalid(f"not Temporal payloads: {error}") from error


def _invalid(message: str) -> RequestValidationError:
    """422 in the shape of every other validation error, naming the body."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", "payloads"), "msg": message}])


def _answer(payloads: list[Payload]) -> PayloadsJson:
    return PayloadsJson(
        payloads=[
            PayloadJson(
                metadata={key: _b64(value) for key, value in payload.metadata.items()},
                data=_b64(payload.data),
            )
            for payload in payloads
        ]
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@router.post("/decode", responses={403: {"description": "not a platform admin"}})
async def decode(principal: PrincipalDep, body: PayloadsJson) -> PayloadsJson:
    """Decode payloads as OptiInfra's clients stored them (compressed ones expanded, others unchanged)."""
    require_platform_admin(principal)
    payloads = _payloads(body)
    try:
        decoded = await CODEC.decode(payloads)
    except Exception as error:  # a corrupt compressed payload: the caller's input, not a server fault
        raise _invalid(f"cannot decode: {error}") from error
    return _answer(decoded)


@router.post("/encode", responses={403: {"description": "not a platform admin"}})
async def encode(principal: PrincipalDep, body: PayloadsJson) -> PayloadsJson:
    """Encode payloads as OptiInfra's clients would store them."""
    require_platform_admin(principal)
    return _answer(await CODEC.encode(_payloads(body)))
