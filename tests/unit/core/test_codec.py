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
