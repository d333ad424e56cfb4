"""SchemaMemo keeps what a rule made of a schema while it holds that schema (by identity),
within its bounds; Gemini's cleaning goes through it and still warns on every request."""

from __future__ import annotations

from typing import Any

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.providers.gemini.schema import schema_for_gemini
from polyrelay.providers.schema_memo import SchemaMemo


def _counting() -> tuple[list[int], Any]:
    calls: list[int] = []

    def make(schema: dict[str, Any]) -> int:
        calls.append(1)
        return len(schema)

    return calls, make


def test_a_schema_is_worked_out_once_while_kept() -> None:
    memo: SchemaMemo[int] = SchemaMemo(entries=2)
    calls, make = _counting()
    a, b, c = {"type": "object"}, {"type": "object"}, {"type": "string"}
    assert memo.get(a, make) == 1 and memo.get(a, make) == 1 and len(calls) == 1
    memo.get(b, make)  # equal, but another object: worked out again
    assert len(calls) == 2
    memo.get(a, make)  # the most recent now: b is the oldest
    memo.get(c, make)  # a third: b leaves
    memo.get(a, make)
    assert len(calls) == 3
    memo.get(b, make)
    assert len(calls) == 4


def test_the_kept_schemas_are_bounded_in_bytes() -> None:
    memo: SchemaMemo[int] = SchemaMemo(max_bytes=64)
    calls, make = _counting()
    big = {"description": "x" * 100}
    memo.get(big, make)
    memo.get(big, make)
    assert len(calls) == 2  # larger than the whole memo: never kept
    small = [{"description": str(i) * 20} for i in range(3)]  # 38 bytes each
    for schema in small:
        memo.get(schema, make)
    memo.get(small[2], make)
    memo.get(small[0], make)  # pushed out by the third
    assert len(calls) == 6


def test_an_error_is_not_kept() -> None:
    memo: SchemaMemo[int] = SchemaMemo()
    schema: dict[str, Any] = {}

    def fail(_: dict[str, Any]) -> int:
        raise InvalidRequestError("no")

    for _ in range(2):
        with pytest.raises(InvalidRequestError):
            memo.get(schema, fail)
    assert memo.get(schema, len) == 0


def test_gemini_warns_of_a_kept_schema_on_every_request() -> None:
    schema = {"type": "object", "properties": {"p": {"$ref": "#/$defs/X", "title": "X"}}}
    fixed = []
    for _ in range(2):
        ctx = RequestContext()
        fixed.append(schema_for_gemini(schema, ctx, "tool t"))
        (warning,) = ctx.warnings
        assert "dropped title beside $ref in the schema of tool t" in warning
    assert fixed[0] is fixed[1] and fixed[0] == {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/X"}},
    }
    assert schema["properties"]["p"]["title"] == "X"  # the client's schema is unchanged
