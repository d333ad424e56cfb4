"""A request's warnings: distinct, in order, at most MAX_WARNINGS listed and the rest
counted, in time linear in their number."""

from __future__ import annotations

import time

from polyrelay.context import MAX_WARNINGS, RequestContext


def test_warnings_are_distinct_and_in_order() -> None:
    ctx = RequestContext()
    for message in ["b", "a", "b", "c", "a"]:
        ctx.warn(message)
    assert ctx.warnings == ["b", "a", "c"]


def test_past_the_cap_the_rest_are_counted_in_one_entry() -> None:
    ctx = RequestContext()
    for i in range(MAX_WARNINGS + 5):
        ctx.warn(f"w{i}")
    ctx.warn("w0")  # a listed one repeated: not counted
    assert ctx.warnings == [f"w{i}" for i in range(MAX_WARNINGS)] + ["and 5 more left out"]


def test_translation_warnings_carry_their_count_when_the_request_is_translated() -> None:
    ctx = RequestContext()
    ctx.warn("routed")
    for i in range(MAX_WARNINGS + 3):
        ctx.warn_translated(f"t{i}")
    ctx.translating()
    listed = ["routed", *(f"t{i}" for i in range(MAX_WARNINGS - 1))]
    assert ctx.warnings == [*listed, "and 4 more left out"]


def test_a_million_distinct_warnings_take_linear_time() -> None:
    """Each used to be looked for in the list so far: 20,000 took 3 s, a million hours."""
    ctx = RequestContext()
    started = time.process_time()
    for i in range(1_000_000):
        ctx.warn_translated(f"field k{i} is not supported; ignored")
    ctx.translating()
    assert time.process_time() - started < 5
    assert ctx.warnings[-1] == "and 999980 more left out"
    assert len(ctx.warnings) == MAX_WARNINGS + 1
