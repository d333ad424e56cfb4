"""The one place that calls msgspec's JSON encoder and decoders.

Encoders and decoders are built once and reused: building them per call costs more
than the encode itself for small bodies.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

__all__ = ["DecodeError", "JSONObject", "decode", "decode_as", "encode", "encode_str"]

T = TypeVar("T")
JSONObject = dict[str, Any]
DecodeError = msgspec.DecodeError

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_typed_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def encode(value: object) -> bytes:
    """JSON-encode any msgspec-supported value (Structs, dicts, lists, ...)."""
    return _encoder.encode(value)


def encode_str(value: object) -> str:
    return _encoder.encode(value).decode()


def decode(data: bytes | str) -> Any:
    """Decode JSON into plain Python values. Raises DecodeError."""
    try:
        return _decoder.decode(data)
    except RecursionError:
        raise _too_deep() from None


def decode_as(data: bytes | str, type_: type[T]) -> T:
    """Decode and validate JSON into `type_`. Raises msgspec.ValidationError/DecodeError."""
    decoder = _typed_decoders.get(type_)
    if decoder is None:
        decoder = msgspec.json.Decoder(type_)
        _typed_decoders[type_] = decoder
    try:
        result: T = decoder.decode(data)
    except RecursionError:
        raise _too_deep() from None
    return result


def _too_deep() -> DecodeError:
    # msgspec recurses once per nesting level (skipping an unknown field's value too), so
    # `[[[[…` thousands deep ends in RecursionError: for the caller, malformed input.
    return DecodeError("JSON is nested too deeply")
