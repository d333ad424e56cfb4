"""Decoding what an upstream answers: an int written as an integral float is the int.

JSON does not tell 11.0 from 11, and a server that computes its counts as floats writes
`"prompt_tokens": 11.0` (the SDKs' pydantic models read it as 11). msgspec's strict
decoders refuse it, which failed the whole answer, or on the fast path lost its usage.
So a body (stream event, relayed usage) that strict decoding refuses for a float where an
int goes is read again in msgspec's lax mode (`strict=False`), which takes 11.0 (and
1.1e1) as 11 and still refuses 11.5: no count or index has a fraction.

Why only then, and not lax mode always (which costs no more): lax mode also reads a
number, boolean or null written as a string ("11", "true"), and a string where a count
goes stays a malformed answer, as it was (an Anthropic event with `"index": "0"` is one,
not a block to skip). A body read again is read lax as a whole, so a string beside a
float count in it is taken too; no server is known to mix them. The common answer pays
nothing: the second decode only follows a refusal, and stream parsers call `reread` from
their error path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from polyrelay import codec

__all__ = ["convert", "decode", "lax_decoder", "reread"]

T = TypeVar("T")

_FLOAT_FOR_INT = re.compile(r"Expected `[^`]*\bint\b[^`]*`, got `float`")
"""msgspec's error for a float given where an int goes (alone, or in a union)."""

_lax: dict[Any, msgspec.json.Decoder[Any]] = {}


def lax_decoder(type_: type[T]) -> msgspec.json.Decoder[T]:
    """The decoder a stream parser holds for `reread`."""
    return msgspec.json.Decoder(type_, strict=False)


def _float_for_int(error: Exception) -> bool:
    return isinstance(error, msgspec.ValidationError) and bool(_FLOAT_FOR_INT.match(str(error)))


def reread(error: Exception, data: bytes | str, lax: Callable[[bytes | str], T]) -> T:
    """`data`, which a strict decoder refused with `error`, as `lax` reads it. Raises
    `error` when it is not a float where an int goes, and `lax`'s own error when it
    refuses `data` too (msgspec.ValidationError/DecodeError)."""
    if not _float_for_int(error):
        raise error
    try:
        return lax(data)
    except RecursionError:  # `[[[[…` thousands deep: malformed input, as in codec
        raise msgspec.DecodeError("JSON is nested too deeply") from None


def decode(data: bytes | str, type_: type[T]) -> T:
    """`codec.decode_as`, reading an int written as a float (see the module doc). Raises
    msgspec.ValidationError/DecodeError."""
    try:
        return codec.decode_as(data, type_)
    except msgspec.ValidationError as exc:
        lax: msgspec.json.Decoder[T] | None = _lax.get(type_)
        if lax is None:
            lax = _lax[type_] = lax_decoder(type_)
        return reread(exc, data, lax.decode)


def convert(value: object, type_: type[T]) -> T:
    """`msgspec.convert` of a body already decoded to plain values, as `decode` reads."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        if not _float_for_int(exc):
            raise
    return msgspec.convert(value, type_, strict=False)
