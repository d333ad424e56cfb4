"""Token usage across translations, end to end: the official SDKs (Chat Completions,
Responses, Messages) → a real gateway → an upstream of each type reporting cache reads,
cache writes and reasoning tokens in its own terms (usage_upstream.py), streamed and not.
Each client gets the usage in its own protocol's terms (Anthropic's `input_tokens`
excludes the cache, OpenAI's `prompt_tokens` includes it; output includes reasoning on
every side), and the usage row is the same whichever client asked: input (cache included),
output (reasoning included), cache read, cache write, reasoning, and the cost from them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.exact_upstream import Metered
from tests.integration.usage_upstream import (
    BARE_DELTA,
    CACHE_READ,
    MODELS,
    OUTPUT,
    PRICE_CACHE_READ,
    PRICE_CACHE_WRITE,
    PRICE_IN,
    PRICE_OUT,
    REASONING,
    SEARCH,
    UNCACHED,
    WRITES,
    input_total,
    serve,
)

_UPSTREAMS = list(MODELS)
_STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
_EACH_UPSTREAM = pytest.mark.parametrize("upstream", _UPSTREAMS)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("usage-translated"))


def _row(served: Metered, key: tuple[str, str]) -> tuple[Any, ...]:
    """(input, output, cache read, cache write, reasoning, cost, status) of the key's row."""
    served.recorded(key)  # waits for it
    with sqlite3.connect(served.db) as conn:
        [row] = conn.execute(
            "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
            " reasoning_tokens, cost_usd, status FROM usage WHERE key_id = ?",
            (key[0],),
        ).fetchall()
    return tuple(row)


def _check_row(
    served: Metered,
    key: tuple[str, str],
    upstream: str,
    calls: int = 1,
    reasoning: int = REASONING,
) -> None:
    total = input_total(upstream) * calls
    writes = WRITES[upstream] * calls
    # The cache reads and writes at their own prices, the rest of the input at its.
    uncached = (total - CACHE_READ * calls - writes) * PRICE_IN
    cached = CACHE_READ * calls * PRICE_CACHE_READ + writes * PRICE_CACHE_WRITE
    cost = (uncached + cached + OUTPUT * calls * PRICE_OUT) / 1e6
    *tokens, recorded_cost, status = _row(served, key)
    assert tokens == [total, OUTPUT * calls, CACHE_READ * calls, writes, reasoning * calls]
    assert (recorded_cost, status) == (pytest.approx(cost), 200)


def _openai(served: Metered, key: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)


def _say(text: str = "hi") -> Any:
    return [{"role": "user", "content": text}]


def _chat_usage(served: Metered, key: tuple[str, str], model: str, stream: bool, n: int) -> Any:
    client = _openai(served, key)
    if not stream:
        return client.chat.completions.create(model=model, messages=_say(), n=n).usage
    usages = [
        chunk.usage
        for chunk in client.chat.completions.create(
            model=model, messages=_say(), n=n, stream=True, stream_options={"include_usage": True}
        )
        if chunk.usage is not None
    ]
    assert len(usages) == 1
    return usages[0]


@_STREAMED
@_EACH_UPSTREAM
def test_a_chat_client(served: Metered, upstream: str, stream: bool) -> None:
    key = served.new_key()
    usage = _chat_usage(served, key, MODELS[upstream][0], stream, 1)
    total = input_total(upstream)
    assert (usage.prompt_tokens, usage.completion_tokens) == (total, OUTPUT)
    assert usage.total_tokens == total + OUTPUT
    assert usage.prompt_tokens_details.cached_tokens == CACHE_READ
    assert (usage.prompt_tokens_details.cache_write_tokens or 0) == WRITES[upstream]
    assert usage.completion_tokens_details.reasoning_tokens == REASONING
    _check_row(served, key, upstream)


@_EACH_UPSTREAM
def test_a_chat_stream_without_include_usage_is_recorded(served: Metered, upstream: str) -> None:
    """The client did not ask for the usage chunk, so it gets none; the gateway asked
    upstream all the same, and records it."""
    key = served.new_key()
    chunks = list(
        _openai(served, key).chat.completions.create(
            model=MODELS[upstream][0], messages=_say(), stream=True
        )
    )
    assert chunks and all(chunk.usage is None and chunk.choices for chunk in chunks)
    _check_row(served, key, upstream)


@_STREAMED
@pytest.mark.parametrize("upstream", [u for u in _UPSTREAMS if u != "chat"])
def test_a_chat_client_of_n_choices_sums_the_calls(
    served: Metered, upstream: str, stream: bool
) -> None:
    """`n` is answered by parallel calls upstream: their usages are summed."""
    key = served.new_key()
    usage = _chat_usage(served, key, MODELS[upstream][0], stream, 2)
    total = input_total(upstream) * 2
    assert (usage.prompt_tokens, usage.completion_tokens) == (total, OUTPUT * 2)
    assert usage.total_tokens == total + OUTPUT * 2
    assert usage.prompt_tokens_details.cached_tokens == CACHE_READ * 2
    assert (usage.prompt_tokens_details.cache_write_tokens or 0) == WRITES[upstream] * 2
    assert usage.completion_tokens_details.reasoning_tokens == REASONING * 2
    _check_row(served, key, upstream, calls=2)


@_STREAMED
@_EACH_UPSTREAM
def test_a_responses_client(served: Metered, upstream: str, stream: bool) -> None:
    key = served.new_key()
    client, model = _openai(served, key), MODELS[upstream][0]
    if stream:
        with client.responses.stream(model=model, input="hi") as events:
            usage = events.get_final_response().usage
    else:
        usage = client.responses.create(model=model, input="hi").usage
    assert usage is not None
    total = input_total(upstream)
    assert (usage.input_tokens, usage.output_tokens) == (total, OUTPUT)
    assert usage.total_tokens == total + OUTPUT
    assert usage.input_tokens_details.cached_tokens == CACHE_READ
    assert usage.input_tokens_details.cache_write_tokens == WRITES[upstream]
    assert usage.output_tokens_details.reasoning_tokens == REASONING
    _check_row(served, key, upstream)


def _message(served: Metered, key: tuple[str, str], model: str, stream: bool, text: str) -> Any:
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    if not stream:
        return client.messages.create(model=model, max_tokens=100, messages=_say(text))
    with client.messages.stream(model=model, max_tokens=100, messages=_say(text)) as events:
        return events.get_final_message()


def _check_anthropic_usage(usage: Any, upstream: str, reasoning: int | None = REASONING) -> None:
    """`reasoning`: the thinking tokens reported, None when there is no report."""
    assert usage.input_tokens == UNCACHED  # the cache apart, as Anthropic counts
    assert usage.cache_read_input_tokens == CACHE_READ
    assert usage.cache_creation_input_tokens == WRITES[upstream]
    assert usage.output_tokens == OUTPUT
    if reasoning is None:
        assert usage.output_tokens_details is None
    else:
        assert usage.output_tokens_details.thinking_tokens == reasoning


@_STREAMED
@_EACH_UPSTREAM
def test_a_messages_client(served: Metered, upstream: str, stream: bool) -> None:
    key = served.new_key()
    message = _message(served, key, MODELS[upstream][0], stream, "hi")
    _check_anthropic_usage(message.usage, upstream)
    _check_row(served, key, upstream)


def _told_writes(served: Metered, key: tuple[str, str], model: str) -> tuple[Any, Any]:
    """A streamed Messages answer's cache-write split: message_start's, and message_delta's
    (None when it leaves it out; the SDK's MessageDeltaUsage has no such field)."""
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    events = list(client.messages.create(model=model, max_tokens=100, messages=_say(), stream=True))
    [start] = [e.message.usage for e in events if e.type == "message_start"]
    [delta] = [e.usage for e in events if e.type == "message_delta"]
    return start.cache_creation, getattr(delta, "cache_creation", None)


@_EACH_UPSTREAM
def test_a_messages_client_gets_the_cache_writes_split(served: Metered, upstream: str) -> None:
    """`cache_creation` as Anthropic writes it, whichever upstream wrote to the cache (an
    OpenAI upstream's writes count as 5-minute ones): always in a Message's usage, zeros
    when nothing was written; streamed, in message_start, and again in message_delta when
    the upstream told its usage only at the end."""
    key = served.new_key()
    model = MODELS[upstream][0]
    split = {"ephemeral_5m_input_tokens": WRITES[upstream], "ephemeral_1h_input_tokens": 0}
    usage = _message(served, key, model, False, "hi").usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.model_dump() == split
    start, delta = _told_writes(served, key, model)
    assert start is not None
    reports_at_end = upstream in ("chat", "responses")
    if reports_at_end:
        assert start.model_dump() == {**split, "ephemeral_5m_input_tokens": 0}
        assert delta == split
    else:
        assert (start.model_dump(), delta) == (split, None)


@pytest.mark.parametrize("client", ["chat", "responses", "messages"])
def test_a_message_delta_with_output_tokens_alone_keeps_the_input_side(
    served: Metered, client: str
) -> None:
    """An Anthropic stream whose message_delta carries only `output_tokens` (the older
    shape): the input side is message_start's, counted once; no thinking count is known."""
    key = served.new_key()
    model = MODELS["messages"][0]
    if client == "messages":
        usage = _message(served, key, model, True, BARE_DELTA).usage
        _check_anthropic_usage(usage, "messages", reasoning=None)
    elif client == "chat":
        chunks = _openai(served, key).chat.completions.create(
            model=model,
            messages=_say(BARE_DELTA),
            stream=True,
            stream_options={"include_usage": True},
        )
        [usage] = [chunk.usage for chunk in chunks if chunk.usage is not None]
        assert (usage.prompt_tokens, usage.completion_tokens) == (input_total("messages"), OUTPUT)
    else:
        with _openai(served, key).responses.stream(model=model, input=BARE_DELTA) as events:
            usage = events.get_final_response().usage
        assert usage is not None
        assert (usage.input_tokens, usage.output_tokens) == (input_total("messages"), OUTPUT)
    _check_row(served, key, "messages", reasoning=0)


def _check_searched_row(served: Metered, key: tuple[str, str]) -> None:
    _check_row(served, key, "chat", calls=2)
    with sqlite3.connect(served.db) as conn:
        [(searches,)] = conn.execute(
            "SELECT web_search_requests FROM usage WHERE key_id = ?", (key[0],)
        ).fetchall()
    assert searches == 1


@_STREAMED
def test_a_search_loop_sums_its_rounds_for_a_chat_client(served: Metered, stream: bool) -> None:
    """The gateway runs the web search between two upstream calls: both calls' usage."""
    key = served.new_key()
    client, model = _openai(served, key), MODELS["chat"][0]
    options: Any = {"web_search_options": {}}
    if stream:
        chunks = client.chat.completions.create(
            model=model,
            messages=_say(SEARCH),
            stream=True,
            stream_options={"include_usage": True},
            extra_body=options,
        )
        [usage] = [chunk.usage for chunk in chunks if chunk.usage is not None]
    else:
        answer = client.chat.completions.create(
            model=model, messages=_say(SEARCH), extra_body=options
        )
        usage = answer.usage
    assert usage is not None
    total = input_total("chat") * 2
    assert (usage.prompt_tokens, usage.completion_tokens) == (total, OUTPUT * 2)
    assert usage.prompt_tokens_details.cached_tokens == CACHE_READ * 2
    assert usage.prompt_tokens_details.cache_write_tokens == WRITES["chat"] * 2
    assert usage.completion_tokens_details.reasoning_tokens == REASONING * 2
    _check_searched_row(served, key)


@_STREAMED
def test_a_search_loop_sums_its_rounds_for_a_messages_client(served: Metered, stream: bool) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    tools: Any = [{"type": "web_search_20250305", "name": "web_search"}]
    asked: Any = {"model": MODELS["chat"][0], "max_tokens": 100, "messages": _say(SEARCH)}
    if stream:
        with client.messages.stream(**asked, tools=tools) as events:
            usage = events.get_final_message().usage
    else:
        usage = client.messages.create(**asked, tools=tools).usage
    assert usage.input_tokens == UNCACHED * 2
    assert usage.cache_read_input_tokens == CACHE_READ * 2
    assert usage.cache_creation_input_tokens == WRITES["chat"] * 2
    assert usage.output_tokens == OUTPUT * 2
    assert usage.output_tokens_details.thinking_tokens == REASONING * 2
    assert usage.server_tool_use.web_search_requests == 1
    _check_searched_row(served, key)
