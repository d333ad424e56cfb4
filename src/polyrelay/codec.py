"""The one place that calls msgspec's JSON encoder and decoders.

Encoders and decoders are built once and reused: building them per call costs more
than the encode itself for small bodies.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

__all__ = [
    "DecodeError",
    "JSONObject",
    "LazyObject",
    "compact",
    "decode",
    "decode_as",
    "decode_known",
    "encode",
    "encode_str",
    "holds_string",
    "member_replacements",
]

T = TypeVar("T")
JSONObject = dict[str, Any]
DecodeError = msgspec.DecodeError

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_typed_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_members_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])


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


def compact(data: bytes) -> bytes:
    """`data`, JSON text, without insignificant whitespace (validated in C, no Python
    objects built). Raises DecodeError, for JSON nested too deeply too."""
    try:
        return msgspec.json.format(data, indent=-1)
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


def decode_known(data: bytes, strict: type[T], lenient: type[T]) -> tuple[T, list[str]]:
    """`data` as `strict` (a Struct refusing unknown top-level fields) and no unknown
    names; when it has unknown fields, as `lenient` (the same fields, tolerant) and their
    names. The common body costs one decode. Raises msgspec.ValidationError/DecodeError."""
    try:
        return decode_as(data, strict), []
    except msgspec.ValidationError as exc:
        if not str(exc).startswith("Object contains unknown field"):
            raise
    value = decode_as(data, lenient)
    known = _known_fields(lenient)
    return value, [key for key in decode_as(data, dict[str, msgspec.Raw]) if key not in known]


_known: dict[type, frozenset[str]] = {}


def _known_fields(struct: type) -> frozenset[str]:
    names = _known.get(struct)
    if names is None:
        names = _known[struct] = frozenset(getattr(struct, "__struct_encode_fields__", ()))
    return names


def _too_deep() -> DecodeError:
    # msgspec recurses once per nesting level (skipping an unknown field's value too), so
    # `[[[[…` thousands deep ends in RecursionError: for the caller, malformed input.
    return DecodeError("JSON is nested too deeply")


def member_replacements(name: bytes, old: object, new: object) -> list[tuple[bytes, bytes]]:
    """Byte replacements of the member `"name": old` by `"name": new` in JSON text,
    compact or with a space after the colon (for rewriting relayed bytes undecoded)."""
    key, before, after = b'"' + name + b'":', encode(old), encode(new)
    return [(key + before, key + after), (key + b" " + before, key + b" " + after)]


class LazyObject(dict[str, Any]):
    """A JSON object decoded one level deep: each member's value stays its JSON text
    (`msgspec.Raw`) until it is read, and `encode` writes the members nobody read back
    as they came. For the fast path, which changes a few top-level members of a body that
    can be hundreds of KB: a 78 KB Claude Code turn took ≈ 100 µs to decode whole and
    encode again, ≈ 27 µs one level deep (bench/README.md).

    A member read through `[]`, `get`, `pop`, `setdefault`, `values` or `items` is
    decoded once and kept decoded, so what is changed inside it (a list edited in place)
    is encoded too. `dict(...)`, `{**...}` and `copy` would see the raw members: use
    `plain()` for a fully decoded copy."""

    __slots__ = ()

    @classmethod
    def of(cls, data: bytes) -> LazyObject:
        """`data`, a JSON object, one level deep. Raises DecodeError (ValidationError when
        it is JSON but not an object). The nested values are checked only for their
        JSON shape, so `data` should have been decoded (validated) whole before."""
        try:
            return cls(_members_decoder.decode(data))
        except RecursionError:
            raise _too_deep() from None

    def raw(self, name: str) -> msgspec.Raw | None:
        """The JSON text of member `name` while nobody has read it, else None."""
        value = dict.get(self, name)
        return value if type(value) is msgspec.Raw else None

    def plain(self) -> JSONObject:
        return {name: self[name] for name in self}

    def __getitem__(self, name: str) -> Any:
        value = dict.__getitem__(self, name)
        if type(value) is msgspec.Raw:
            value = decode(value)
            dict.__setitem__(self, name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        value = dict.get(self, name, default)
        if type(value) is msgspec.Raw:
            value = decode(value)
            dict.__setitem__(self, name, value)
        return value

    def pop(self, name: str, *default: Any) -> Any:
        value = dict.pop(self, name, *default)
        return decode(value) if type(value) is msgspec.Raw else value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name in self:
            return self[name]
        dict.__setitem__(self, name, default)
        return default

    def values(self) -> Any:
        return [self[name] for name in self]

    def items(self) -> Any:
        return [(name, self[name]) for name in self]


def holds_string(document: JSONObject, name: str) -> bool:
    """Whether member `name` of `document` is a string, read without decoding it."""
    raw = document.raw(name) if type(document) is LazyObject else None
    if raw is None:
        return isinstance(document.get(name), str)
    return memoryview(raw)[:1].tobytes() == b'"'
