"""The one place that calls msgspec's JSON encoder and decoders.

Encoders and decoders are built once and reused: building them per call costs more
than the encode itself for small bodies.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar, cast

import msgspec

__all__ = [
    "CachedMember",
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
    "top_level",
]

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)
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
    return value, [key for key in _members(data) if key not in known]


def _members(data: bytes) -> dict[str, msgspec.Raw]:
    """`data`, a JSON object, one level deep: each member's value as its JSON text."""
    try:
        return _members_decoder.decode(data)
    except RecursionError:
        raise _too_deep() from None


class CachedMember(Generic[S]):
    """`decode_known` of a body whose member `name` is mostly the same on every request
    (a client's tool list: Claude Code's 24 tools are 63 KB of JSON schemas, Codex's 9 are
    17 KB): the member is read as its JSON text (msgspec.Raw), and that text is decoded
    through an LRU of `entries` values keyed by the text itself (hashing 63 KB costs
    ~12 us, building those schemas as dicts ~57). A hit returns the value the first decode
    made, shared by every request that sent those bytes, so nothing may change it in
    place. A text longer than `max_bytes` is decoded every time, and the texts kept come
    to at most `kept_bytes` together (the least recently used go first): decoded, a text
    takes several times its size (24x for a list of empty objects), so sixteen distinct
    lists of 256 KB, which any key could send, held ~65 MB on each protocol. An error
    names the member's path as a decode of the whole body does."""

    def __init__(
        self,
        strict: type[S],
        lenient: type[S],
        name: str,
        member: Any,
        *,
        entries: int = 16,
        max_bytes: int = 256 * 1024,
        kept_bytes: int = 1 << 20,
    ) -> None:
        """`strict` and `lenient` as `decode_known` takes them; `member` is the type of
        the member `name` in both."""
        self._name = name
        self._path = f" - at `$.{name}"
        self._max_bytes = max_bytes
        fields = [(name, msgspec.Raw, _NULL)]
        # Subclasses with the member as its text: a Struct still, read as `strict`'s.
        self._strict = cast(
            type[S], msgspec.defstruct(f"{strict.__name__}Raw", fields, bases=(strict,))
        )
        self._lenient = cast(
            type[S], msgspec.defstruct(f"{lenient.__name__}Raw", fields, bases=(lenient,))
        )
        self._decoder = msgspec.json.Decoder(member)
        self._entries = entries
        self._kept_bytes = kept_bytes
        self._kept: OrderedDict[bytes, tuple[bytes, Any]] = OrderedDict()
        self._size = 0
        """The kept texts' bytes."""
        self._lock = threading.Lock()  # a hit moves its entry, a miss evicts: not atomic

    def decode_known(self, data: bytes) -> tuple[S, list[str]]:
        """As `decode_known(data, strict, lenient)`, the member decoded (see the class)."""
        value, unknown = decode_known(data, self._strict, self._lenient)
        text = bytes(getattr(value, self._name))
        member = self._decode(text) if len(text) > self._max_bytes else self._cached(text)
        setattr(value, self._name, member)
        return value, unknown

    def _cached(self, text: bytes) -> Any:
        with self._lock:
            kept = self._kept.get(text)
            if kept is not None:
                # By the kept key itself: found by identity, not a second compare of the text.
                self._kept.move_to_end(kept[0])
                return kept[1]
        value = self._decode(text)  # an error is raised, not kept
        with self._lock:
            if text not in self._kept:
                self._kept[text] = (text, value)
                self._size += len(text)
            while len(self._kept) > self._entries or self._size > self._kept_bytes:
                self._size -= len(self._kept.popitem(last=False)[0])
        return value

    def _decode(self, text: bytes) -> Any:
        try:
            return self._decoder.decode(text)
        except msgspec.ValidationError as exc:  # raised, not cached
            message, sep, path = str(exc).rpartition(" - at `$")
            if not sep:
                message, path = str(exc), "`"
            raise msgspec.ValidationError(f"{message}{self._path}{path}") from None
        except RecursionError:
            raise _too_deep() from None


_NULL = msgspec.Raw(b"null")


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
        return cls(_members(data))

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


def top_level(data: bytes) -> LazyObject | None:
    """`data`'s members one level deep (LazyObject), or None when it is not a JSON object:
    read once per request, for the async mode's fields and the fast path's body."""
    try:
        return LazyObject.of(data)
    except DecodeError:  # not an object either (a ValidationError)
        return None


def holds_string(document: JSONObject, name: str) -> bool:
    """Whether member `name` of `document` is a string, read without decoding it."""
    raw = document.raw(name) if type(document) is LazyObject else None
    if raw is None:
        return isinstance(document.get(name), str)
    return memoryview(raw)[:1].tobytes() == b'"'
