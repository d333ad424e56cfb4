from __future__ import annotations

import msgspec
import pytest

from polyrelay import codec

DEEP = b"[" * 100_000 + b"]" * 100_000


class Params(msgspec.Struct):
    model: str


def test_json_nested_too_deeply_is_malformed_input_not_a_crash() -> None:
    with pytest.raises(codec.DecodeError, match="nested too deeply"):
        codec.decode(DEEP)


def test_a_deep_unknown_field_is_malformed_input_when_decoding_a_type() -> None:
    # msgspec skips an unknown field's value by recursing into it.
    body = b'{"model": "m", "extra": ' + DEEP + b"}"
    with pytest.raises(codec.DecodeError, match="nested too deeply"):
        codec.decode_as(body, Params)
    assert codec.decode_as(b'{"model": "m", "extra": [[1]]}', Params) == Params(model="m")


class Strict(Params, forbid_unknown_fields=True):
    pass


def test_decode_known_names_the_unknown_fields_only_when_there_are_some() -> None:
    value, unknown = codec.decode_known(b'{"model": "m"}', Strict, Params)
    assert value.model == "m" and unknown == []
    value, unknown = codec.decode_known(b'{"zz": 1, "model": "m", "yy": {}}', Strict, Params)
    assert value == Params(model="m") and unknown == ["zz", "yy"]


@pytest.mark.parametrize("body", [b'{"zz": 1}', b'{"zz": 1, "model": 2}'])
def test_decode_known_still_validates_what_follows_an_unknown_field(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.decode_known(body, Strict, Params)


LAZY_BODY = b'{"a": [1, 2], "b": {"c" : "x"}, "s": "text", "n": 1.50}'


def test_a_lazy_object_keeps_unread_members_as_written() -> None:
    lazy = codec.LazyObject.of(LAZY_BODY)
    lazy["n"] = 2
    assert codec.encode(lazy) == b'{"a":[1, 2],"b":{"c" : "x"},"s":"text","n":2}'


def test_a_lazy_member_read_is_decoded_once_and_edits_are_encoded() -> None:
    lazy = codec.LazyObject.of(LAZY_BODY)
    lazy["a"].append(3)
    lazy.get("b")["c"] = "y"
    assert lazy.raw("a") is None and lazy.raw("s") is not None
    assert codec.encode(lazy) == b'{"a":[1,2,3],"b":{"c":"y"},"s":"text","n":1.50}'


def test_a_lazy_object_reads_as_a_dict() -> None:
    lazy = codec.LazyObject.of(LAZY_BODY)
    plain = codec.decode(LAZY_BODY)
    assert lazy.get("missing") is None and lazy.get("missing", 5) == 5
    assert lazy.setdefault("s", "other") == "text" and lazy.setdefault("z", 0) == 0
    assert lazy.pop("n") == 1.5 and lazy.pop("n", None) is None
    del plain["n"]
    plain["z"] = 0
    assert lazy.plain() == plain
    assert list(lazy.items()) == list(plain.items()) and list(lazy.values()) == list(plain.values())


def test_a_lazy_object_is_an_object() -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.LazyObject.of(b"[1]")
    with pytest.raises(codec.DecodeError):
        codec.LazyObject.of(b'{"a": [1,}')


def test_holds_string_reads_the_member_undecoded() -> None:
    lazy = codec.LazyObject.of(b'{"s": "hi", "l": ["hi"]}')
    assert codec.holds_string(lazy, "s") and not codec.holds_string(lazy, "l")
    assert lazy.raw("s") is not None and lazy.raw("l") is not None
    assert codec.holds_string({"s": "hi"}, "s") and not codec.holds_string({}, "s")


def test_a_lazy_object_nested_too_deeply_is_malformed_input() -> None:
    with pytest.raises(codec.DecodeError, match="nested too deeply"):
        codec.LazyObject.of(b'{"a": ' + DEEP + b"}")
