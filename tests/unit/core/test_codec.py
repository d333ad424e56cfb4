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
