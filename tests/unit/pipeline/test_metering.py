"""The per-request Meter: one row, usage summed over choices, streams folded, fast-path
bodies read with each protocol's usage mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.unit.builders import UsageRows, route

from polyrelay.context import RequestContext
from polyrelay.ir import MessageStart, MessageStop, StopReason, TextDelta, Usage, UsageDelta
from polyrelay.pipeline.metering import Meter, MeteredFrames, usage_of_body


def meter(store: UsageRows, stream: bool = False, **prices: float | None) -> Meter:
    ctx = RequestContext(model="m", key_id="k1")
    prices = {"input_price": 2.0, "output_price": 8.0, **prices}
    return Meter(
        store, ctx, route("anthropic", provider="emu", upstream="up", **prices), stream=stream
    )  # type: ignore[arg-type]


def test_choices_are_summed_and_settled_once() -> None:
    store = UsageRows()
    m = meter(store)
    m.add(Usage(input_tokens=2, output_tokens=4))
    m.add(Usage(input_tokens=2, output_tokens=4, reasoning_tokens=1))
    m.settle(200)
    m.settle(500)
    [row] = store.rows
    assert (row.input_tokens, row.output_tokens, row.reasoning_tokens) == (4, 8, 1)
    assert (row.status, row.stream, row.key_id, row.provider) == (200, False, "k1", "emu")
    assert row.cost_usd == pytest.approx((4 * 2 + 8 * 8) / 1e6)


def test_unpriced_model_has_no_cost() -> None:
    store = UsageRows()
    meter(store, input_price=None, output_price=None).settle(200)
    assert store.rows[0].cost_usd is None


def test_stream_keeps_the_last_usage_per_choice_and_settles_on_close() -> None:
    store = UsageRows()
    m = meter(store, stream=True)
    m.see(MessageStart(id="a", model="m", usage=Usage(input_tokens=3)), 0)
    m.see(UsageDelta(usage=Usage(input_tokens=3, output_tokens=1)), 0)
    m.see(TextDelta(index=0, text="hi"), 0)
    m.see(UsageDelta(usage=Usage(input_tokens=3, output_tokens=7)), 0)
    m.see(UsageDelta(usage=Usage(input_tokens=3, output_tokens=5)), 1)

    async def source() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    async def consume() -> list[bytes]:
        frames = MeteredFrames(source(), m)
        out = [chunk async for chunk in frames]
        assert store.rows == []  # settled when the response closes the frames
        await frames.aclose()
        return out

    assert asyncio.run(consume()) == [b"a", b"b"]
    [row] = store.rows
    assert (row.input_tokens, row.output_tokens, row.stream) == (6, 12, True)


_STOP = MessageStop(stop_reason=StopReason.END_TURN)


def test_see_all_keeps_the_last_usage_of_a_relayed_stream() -> None:
    store = UsageRows()
    m = meter(store, stream=True)
    m.see_all([MessageStart(id="a", model="m", usage=Usage(input_tokens=3))])
    m.see_all([TextDelta(index=0, text="hi"), UsageDelta(usage=Usage(input_tokens=3))])
    m.see_all([UsageDelta(usage=Usage(input_tokens=4, output_tokens=7)), _STOP])
    m.settle(200)
    [row] = store.rows
    assert (row.input_tokens, row.output_tokens) == (4, 7)


def test_usage_of_relayed_bodies() -> None:
    chat = {"usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}
    assert usage_of_body("openai", chat) == Usage(input_tokens=5, output_tokens=3)
    messages = {
        "usage": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 2},
    }
    assert usage_of_body("anthropic", messages) == Usage(
        input_tokens=7, output_tokens=3, cache_read_tokens=2
    )
    response = {
        "usage": {
            "input_tokens": 5,
            "output_tokens": 3,
            "total_tokens": 8,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
        "output": [{"type": "web_search_call"}, {"type": "message"}],
    }
    assert usage_of_body("openai-responses", response) == Usage(
        input_tokens=5,
        output_tokens=3,
        cache_read_tokens=1,
        reasoning_tokens=2,
        web_search_requests=1,
    )
    assert usage_of_body("openai", {"usage": {"prompt_tokens": "x"}}) == Usage()
    assert usage_of_body("anthropic", [1, 2]) == Usage()
    assert usage_of_body("gemini", {"usage": {}}) == Usage()
