"""The server-tool loop and the WebSearch tool against a fake backend and a scripted model."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    FunctionTool,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    Role,
    ServerToolCallPart,
    ServerToolResultPart,
    StopReason,
    StreamAccumulator,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageDelta,
    UserLocation,
    WebSearchTool,
)
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.search.backends import SearchError, SearchHit
from polyrelay.search.settings import SearchSettings
from polyrelay.tools.loop import complete_with_tool, prepare_request
from polyrelay.tools.stream import stream_with_tool
from polyrelay.tools.web_search import WebSearch, WebSearchRuntime, excerpt_of

pytestmark = pytest.mark.anyio

HITS = [
    SearchHit(url="https://docs.example.com/a", title="Alpha documentation page", text="alpha"),
    SearchHit(url="https://other.org/b", title="Beta", text="beta", page_age="2025-01-01"),
]


class FakeBackend:
    def __init__(self, error: SearchError | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, int, UserLocation | None]] = []

    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        self.calls.append((query, limit, location))
        if self.error is not None:
            raise self.error
        return HITS[:limit]


def web_search(backend: FakeBackend | None = None, **options: object) -> WebSearch:
    return WebSearch(WebSearchTool(**options), backend or FakeBackend(), RequestContext())  # type: ignore[arg-type]


def request(text: str = "hi") -> ChatRequest:
    message = Message(role=Role.USER, parts=(TextPart(text=text),))
    return ChatRequest(model="m", messages=(message,), web_search=WebSearchTool())


def search_call(query: str, call_id: str = "call_1") -> ToolCallPart:
    return ToolCallPart(id=call_id, name="web_search", arguments=f'{{"query": "{query}"}}')


def answer(*parts: TextPart | ToolCallPart, stop: StopReason = StopReason.END_TURN) -> ChatResponse:
    return ChatResponse(
        id="r", model="m", parts=parts, stop_reason=stop, usage=Usage(input_tokens=3)
    )


async def run(tool: WebSearch, query: str) -> ServerToolResultPart:
    return await tool.run(tool.server_call(search_call(query)))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SearchError("too_many_requests", "slow down"), "too_many_requests"),
        (SearchError("unavailable", "down"), "unavailable"),
    ],
)
async def test_backend_errors_become_error_codes(error: SearchError, code: str) -> None:
    result = await run(web_search(FakeBackend(error)), "q")
    assert result.error_code == code and result.results == ()


async def test_query_checks() -> None:
    tool = web_search()
    assert (await run(tool, "x" * 401)).error_code == "query_too_long"
    bad = ServerToolCallPart(id="s", name="web_search", arguments='{"q": 1}')
    assert (await tool.run(bad)).error_code == "invalid_tool_input"
    assert tool.requests == 0


async def test_results_carry_the_excerpt_and_the_location() -> None:
    backend = FakeBackend()
    oslo = UserLocation(country="NO", timezone="Europe/Oslo")
    tool = web_search(backend, user_location=oslo, blocked_domains=("other.org",))
    result = await run(tool, "alpha")
    assert [r.url for r in result.results] == ["https://docs.example.com/a"]
    assert excerpt_of(result.results[0]) == "alpha"
    assert backend.calls[0][2] == oslo
    feedback = tool.feedback(result)
    assert (
        "[1] Alpha documentation page" in feedback and "URL: https://docs.example.com/a" in feedback
    )


async def test_citation_rule_by_url_then_long_title() -> None:
    tool = web_search()
    result = await run(tool, "q")
    text = "See Alpha documentation page and https://other.org/b, or Beta."
    citations = tool.citations(text, [result])
    assert [c.url for c in citations] == ["https://docs.example.com/a", "https://other.org/b"]
    first = citations[0]
    assert first.start_index is not None and first.end_index is not None
    assert text[first.start_index : first.end_index] == "Alpha documentation page"
    # "Beta" alone is too short a title to count; only its URL cites it.
    assert tool.citations("Beta says so.", [result]) == ()


async def test_loop_pauses_when_the_model_keeps_searching() -> None:
    tool = web_search(max_uses=1)
    calls: list[ChatRequest] = []

    async def model(prepared: ChatRequest) -> ChatResponse:
        calls.append(prepared)
        return answer(search_call("again", f"call_{len(calls)}"), stop=StopReason.TOOL_USE)

    response = await complete_with_tool(model, prepare_request(request(), tool), tool)
    assert len(calls) == 3  # max_uses + 2
    assert response.stop_reason is StopReason.PAUSE_TURN
    results = [p for p in response.parts if isinstance(p, ServerToolResultPart)]
    assert [r.error_code for r in results] == [None, "max_uses_exceeded", "max_uses_exceeded"]
    assert response.usage.web_search_requests == 1 and response.usage.input_tokens == 9
    assert calls[1].messages[-1].role is Role.TOOL
    assert [t.name for t in calls[0].tools] == ["web_search"] and calls[0].web_search is None


@pytest.mark.parametrize("stream", [False, True])
async def test_the_model_answers_after_a_search_past_max_uses(stream: bool) -> None:
    """One search after another with max_uses=1: the second gets max_uses_exceeded and the
    model reads that and answers (Anthropic's behaviour), not a pause_turn before it could."""
    tool = web_search(max_uses=1)
    calls: list[ChatRequest] = []
    final = "Here is what I found."

    async def model(prepared: ChatRequest) -> ChatResponse:
        calls.append(prepared)
        if len(calls) <= 2:
            return answer(search_call("more", f"call_{len(calls)}"), stop=StopReason.TOOL_USE)
        return answer(TextPart(text=final))

    def round_of(number: int) -> list[StreamEvent]:
        if number <= 2:
            call = ToolCallPart(id=f"call_{number}", name="web_search")
            delta = ToolArgsDelta(index=0, json='{"query": "more"}')
            return round_events(PartStart(index=0, part=call), delta, PartStop(index=0))
        text = TextDelta(index=0, text=final)
        return round_events(PartStart(index=0, part=TextPart(text="")), text, PartStop(index=0))

    async def reopen(prepared: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        calls.append(prepared)
        return events_of(round_of(len(calls)))

    prepared = prepare_request(request(), tool)
    if stream:
        accumulator = StreamAccumulator()
        calls.append(prepared)
        async for event in stream_with_tool(events_of(round_of(1)), reopen, prepared, tool):
            accumulator.feed(event)
        response = accumulator.result()
    else:
        response = await complete_with_tool(model, prepared, tool)
    assert response.stop_reason is StopReason.END_TURN
    results = [p for p in response.parts if isinstance(p, ServerToolResultPart)]
    assert [r.error_code for r in results] == [None, "max_uses_exceeded"]
    last = response.parts[-1]
    assert isinstance(last, TextPart) and last.text == final
    assert len(calls) == 3 and "max_uses_exceeded" in str(calls[2].messages[-1])


def test_a_client_tool_with_the_same_name_is_rejected() -> None:
    tool = web_search()
    clash = ChatRequest(
        model="m", messages=request().messages, tools=(FunctionTool(name="web_search"),)
    )
    with pytest.raises(InvalidRequestError, match="declared twice"):
        prepare_request(clash, tool)


def test_history_server_blocks_become_calls_and_results() -> None:
    tool = web_search()
    paired = ServerToolResultPart(tool_call_id="srv_1", results=())
    assistant = Message(
        role=Role.ASSISTANT,
        parts=(
            ServerToolCallPart(id="srv_1", name="web_search", arguments='{"query": "a"}'),
            paired,
            ServerToolCallPart(id="ws_2", name="web_search", arguments='{"query": "b"}'),
            TextPart(text="done"),
        ),
    )
    history = ChatRequest(model="m", messages=(*request().messages, assistant))
    prepared = prepare_request(history, tool)
    roles = [m.role for m in prepared.messages]
    assert roles == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    first, second = prepared.messages[2].parts[0], prepared.messages[4].parts[0]
    assert isinstance(first, ToolResultPart) and "no results" in first.text()
    assert isinstance(second, ToolResultPart) and "no longer available" in second.text()


def round_events(*parts: StreamEvent, usage: int = 2) -> list[StreamEvent]:
    return [
        MessageStart(id="r", model="m", usage=Usage(input_tokens=usage)),
        *parts,
        UsageDelta(usage=Usage(input_tokens=usage, output_tokens=1)),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]


async def events_of(items: list[StreamEvent]) -> AsyncGenerator[StreamEvent, None]:
    for item in items:
        yield item


async def test_streamed_rounds_are_renumbered_into_one_message() -> None:
    tool = web_search()
    first = round_events(
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Let me look."),
        PartStop(index=0),
        PartStart(index=1, part=ToolCallPart(id="c1", name="web_search")),
        ToolArgsDelta(index=1, json='{"query": "alpha"}'),
        PartStop(index=1),
    )
    second = round_events(
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="It is https://docs.example.com/a."),
        PartStop(index=0),
        usage=5,
    )
    opened: list[ChatRequest] = []

    async def reopen(prepared: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        opened.append(prepared)
        return events_of(second)

    prepared = prepare_request(request(), tool)
    acc = StreamAccumulator()
    out = [e async for e in stream_with_tool(events_of(first), reopen, prepared, tool)]
    for event in out:
        acc.feed(event)
    result = acc.result()
    kinds = [type(p).__name__ for p in result.parts]
    assert kinds == ["TextPart", "ServerToolCallPart", "ServerToolResultPart", "TextPart"]
    assert sum(isinstance(e, MessageStart) for e in out) == 1
    final = result.parts[3]
    assert isinstance(final, TextPart) and final.citations[0].url == "https://docs.example.com/a"
    assert result.usage.input_tokens == 7 and result.usage.web_search_requests == 1
    assert result.stop_reason is StopReason.END_TURN
    assert isinstance(opened[0].messages[-1].parts[0], ToolResultPart)


async def test_missing_local_index_is_not_created(tmp_path: Path) -> None:
    index = tmp_path / "search.db"
    runtime = WebSearchRuntime(SearchSettings(index_path=str(index)))
    await runtime.start()
    assert runtime.backend() is None and not index.exists()
    assert runtime.tool_for(request(), AnthropicProvider.capabilities, RequestContext()) is None
    tool = runtime.tool_for(request(), OpenAIChatProvider.capabilities, RequestContext())
    assert tool is not None and (await run(tool, "x")).results == ()
    await runtime.close()


async def test_a_round_of_many_parts_streams_in_linear_time() -> None:
    """Each part's end used to copy every part before it (`snapshot`): 100,000 parts, 20 s."""
    parts: list[StreamEvent] = []
    for index in range(100_000):
        parts += [
            PartStart(index=index, part=TextPart(text="")),
            TextDelta(index=index, text="x"),
            PartStop(index=index),
        ]

    async def reopen(prepared: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        raise AssertionError("no search was asked for")

    tool = web_search()
    started = time.process_time()
    out = [
        e
        async for e in stream_with_tool(
            events_of(round_events(*parts)), reopen, prepare_request(request(), tool), tool
        )
    ]
    assert time.process_time() - started < 5
    assert sum(isinstance(e, PartStop) for e in out) == 100_000
