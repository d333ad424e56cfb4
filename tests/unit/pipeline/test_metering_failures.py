"""The usage row of a request that ended in an error after its upstream answered 200: the
status of that error (a stream's in-band error, cut or timeout; a billed answer the
gateway turns into an error) and the tokens the upstream reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.unit.builders import UsageRows, route
from tests.unit.pipeline.test_render_streams import ERROR, START, TEXT, ScriptedStream

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.frontends.openai_chat.stream import OpenAIChatStreamRenderer
from polyrelay.ir import ChatRequest, MessageStart, StreamError, TextDelta, Usage
from polyrelay.pipeline.metering import Meter, MeteredFrames
from polyrelay.pipeline.streaming import render_streams
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.providers.openai_responses.response import response_to_ir


def meter(store: UsageRows) -> Meter:
    ctx = RequestContext(model="m", key_id="k1")
    return Meter(store, ctx, route("anthropic", upstream="up"), stream=True)


def settled(m: Meter) -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"a"

    async def consume() -> None:
        frames = MeteredFrames(source(), m)
        _ = [chunk async for chunk in frames]
        await frames.aclose()

    asyncio.run(consume())


def test_a_relayed_in_band_error_gives_its_status() -> None:
    store = UsageRows()
    m = meter(store)
    m.see_all([MessageStart(id="a", model="m", usage=Usage(input_tokens=3))])
    m.see_all(
        [TextDelta(index=0, text="hi"), StreamError(status=529, kind="api_error", message="busy")]
    )
    settled(m)
    [row] = store.rows
    assert (row.input_tokens, row.status) == (3, 529)


def test_a_stream_without_error_is_a_200_and_an_explicit_status_wins() -> None:
    store = UsageRows()
    settled(meter(store))
    failed = meter(store)
    failed.fail(504)
    failed.settle(429)
    assert [row.status for row in store.rows] == [200, 429]


@pytest.mark.parametrize(
    ("stream", "status"),
    [
        (ScriptedStream([START + TEXT]), 502),  # broke off before message_stop
        (ScriptedStream([START + TEXT + ERROR]), 529),  # Anthropic's overloaded_error
    ],
)
def test_a_translated_stream_that_failed(stream: ScriptedStream, status: int) -> None:
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("anthropic", upstream="up")
    store = UsageRows()
    m = Meter(store, ctx, upstream, stream=True)
    renderer = OpenAIChatStreamRenderer(ChatRequest(model="m", messages=()), ctx)
    streams = [stream]
    frames = render_streams(streams, AnthropicProvider(), upstream, ctx, renderer, m)  # type: ignore[arg-type]

    async def consume() -> None:
        metered = MeteredFrames(frames, m)
        _ = [chunk async for chunk in metered]
        await metered.aclose()

    asyncio.run(consume())
    [row] = store.rows
    assert (row.input_tokens, row.status) == (3, status)


def test_a_failed_responses_answer_carries_its_usage() -> None:
    body = (
        b'{"id":"r","object":"response","created_at":1,"model":"m","status":"failed","output":[],'
        b'"error":{"code":"rate_limit_exceeded","message":"slow down"},'
        b'"usage":{"input_tokens":11,"output_tokens":7,"total_tokens":18}}'
    )
    with pytest.raises(UpstreamError) as error:
        response_to_ir(body, RequestContext(model="m"))
    assert error.value.status == 429 and error.value.usage is not None
    assert (error.value.usage.input_tokens, error.value.usage.output_tokens) == (11, 7)


def test_a_gemini_answer_without_output_carries_its_usage() -> None:
    body = (
        b'{"candidates":[{"index":0,"finishReason":"OTHER"}],'
        b'"usageMetadata":{"promptTokenCount":11,"totalTokenCount":11}}'
    )
    ctx = RequestContext(model="m")
    with pytest.raises(UpstreamError, match="OTHER") as error:
        GeminiProvider().parse_response(
            UpstreamResponse(status=200, headers={}, body=body), route("gemini"), ctx
        )
    assert error.value.usage == Usage(input_tokens=11)
