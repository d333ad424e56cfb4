"""The web search tool through the OpenAI protocols with the openai SDK: the Responses API's
`web_search` tool (as Codex sends it) and Chat Completions' `web_search_options`."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER
from tests.integration.web_search_support import PAGES, search_gateway  # noqa: F401

LOOP_PROVIDERS = ["openai", "openai-responses", "gemini"]
SEARCH = '[[tool web_search {"query": "relay guide"}]]'
GUIDE = "https://docs.example.com/guide/intro"
EXAMPLE_PAGES = sorted(u for u in PAGES if "example.com" in u)
CODEX_TOOL: Any = {"type": "web_search", "filters": {"allowed_domains": ["example.com"]}}


@pytest.fixture
def client(search_gateway: Gateway, api_key: str) -> openai.OpenAI:  # noqa: F811
    return openai.OpenAI(base_url=search_gateway.url + "/v1", api_key=api_key, max_retries=0)


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_responses_web_search_call_and_citations(client: openai.OpenAI, provider: str) -> None:
    response = client.responses.create(
        model=MODELS_BY_PROVIDER[provider], input=f"look it up {SEARCH}", tools=[CODEX_TOOL]
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["web_search_call", "message"]
    call, message = response.output
    assert call.status == "completed"
    assert call.action.type == "search" and call.action.query == "relay guide"
    text = message.content[0]
    assert text.type == "output_text"
    annotations = [a for a in text.annotations if a.type == "url_citation"]
    assert sorted(a.url for a in annotations) == EXAMPLE_PAGES  # other.org filtered out
    guide = next(a for a in annotations if a.url == GUIDE)
    assert text.text[guide.start_index : guide.end_index] == GUIDE


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_responses_stream_reports_search_progress(client: openai.OpenAI, provider: str) -> None:
    kinds: list[str] = []
    with client.responses.stream(
        model=MODELS_BY_PROVIDER[provider], input=f"stream {SEARCH}", tools=[CODEX_TOOL]
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_response()
    searching = [k for k in kinds if k.startswith("response.web_search_call.")]
    assert searching == [
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
    ]
    assert kinds.index("response.web_search_call.completed") < kinds.index(
        "response.output_text.delta"
    )
    assert "response.output_text.annotation.added" in kinds
    assert [item.type for item in final.output] == ["web_search_call", "message"]


TOO_LONG = SEARCH.replace("relay guide", ("relay " * 80).strip())


@pytest.mark.parametrize("stream", [False, True])
def test_responses_failed_search_is_a_failed_call(client: openai.OpenAI, stream: bool) -> None:
    """A search that fails (here: a query over 400 characters) is a `failed` web_search_call,
    not a completed one; the model still answers."""
    request: Any = {
        "model": MODELS_BY_PROVIDER["openai"],
        "input": f"look {TOO_LONG}",
        "tools": [CODEX_TOOL],
    }
    if stream:
        with client.responses.stream(**request) as events:
            kinds = [event.type for event in events]
            response = events.get_final_response()
        assert "response.web_search_call.searching" in kinds
        assert "response.web_search_call.completed" not in kinds
    else:
        response = client.responses.create(**request)
    call, message = response.output
    assert call.type == "web_search_call" and call.status == "failed"
    assert message.type == "message" and "query_too_long" in response.output_text
    assert response.status == "completed"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_include_sources_lists_the_result_urls(
    client: openai.OpenAI, stream: bool
) -> None:
    request: Any = {
        "model": MODELS_BY_PROVIDER["gemini"],
        "input": f"look {SEARCH}",
        "tools": [CODEX_TOOL],
        "include": ["web_search_call.action.sources"],
    }
    if stream:
        with client.responses.stream(**request) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**request)
    call: Any = response.output[0]
    assert call.type == "web_search_call" and call.action.query == "relay guide"
    assert [s.type for s in call.action.sources] == ["url"] * len(EXAMPLE_PAGES)
    assert sorted(s.url for s in call.action.sources) == EXAMPLE_PAGES
    plain = client.responses.create(**{**request, "include": []})
    assert plain.output[0].action.sources is None  # type: ignore[union-attr]


def test_responses_bad_domain_is_a_400(client: openai.OpenAI) -> None:
    bad: Any = {"type": "web_search", "filters": {"allowed_domains": ["https://example.com"]}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODELS_BY_PROVIDER["openai"], input="x", tools=[bad])
    assert "tools[0].filters.allowed_domains[0]" in str(caught.value)


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_chat_web_search_options_give_annotations(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    emulator.clear()
    result = client.chat.completions.create(
        model=MODELS_BY_PROVIDER[provider],
        messages=[{"role": "user", "content": f"look {SEARCH}"}],
        web_search_options={
            "user_location": {"type": "approximate", "approximate": {"country": "NO"}}
        },
    )
    message = result.choices[0].message
    assert message.content is not None and GUIDE in message.content
    assert message.annotations is not None
    urls = [a.url_citation.url for a in message.annotations if a.type == "url_citation"]
    assert sorted(urls) == sorted(PAGES)
    assert result.choices[0].finish_reason == "stop"
    assert len([r for r in emulator.requests() if r["method"] == "POST"]) == 2


def test_chat_stream_carries_the_answer_text(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODELS_BY_PROVIDER["gemini"],
            messages=[{"role": "user", "content": f"look {SEARCH}"}],
            web_search_options={},
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Tool web_search returned: Web search results:") and GUIDE in text
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]


def test_chat_to_an_anthropic_upstream_uses_its_search(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.clear()
    result = client.chat.completions.create(
        model=MODELS_BY_PROVIDER["anthropic"],
        messages=[{"role": "user", "content": "weather [[search oslo weather]]"}],
        web_search_options={},
    )
    message = result.choices[0].message
    assert message.content == "You said: weather"
    assert message.annotations is not None
    assert [a.url_citation.url for a in message.annotations] == [
        "https://example.com/oslo-weather-1"
    ]
    calls = [r for r in emulator.requests() if r["method"] == "POST"]
    assert len(calls) == 1
    assert calls[0]["body"]["tools"][0]["type"] == "web_search_20250305"


def test_chat_stream_to_an_anthropic_upstream_uses_its_search(client: openai.OpenAI) -> None:
    # The upstream streams its own search call's input: not a tool call in Chat (it once
    # broke the stream with an internal error).
    chunks = list(
        client.chat.completions.create(
            model=MODELS_BY_PROVIDER["anthropic"],
            messages=[{"role": "user", "content": "weather [[search oslo weather]]"}],
            web_search_options={},
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: weather"
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]


def test_responses_stream_to_an_anthropic_upstream_uses_its_search(
    client: openai.OpenAI,
) -> None:
    with client.responses.stream(
        model=MODELS_BY_PROVIDER["anthropic"],
        input="weather [[search oslo weather]]",
        tools=[{"type": "web_search"}],
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["web_search_call", "message"]
    assert final.output_text == "You said: weather"


def test_responses_to_an_anthropic_upstream_uses_its_search(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODELS_BY_PROVIDER["anthropic"],
        input="weather [[search oslo weather]]",
        tools=[{"type": "web_search"}],
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["web_search_call", "message"]
    call: Any = response.output[0]
    assert call.action.query == "oslo weather"


PAUSED = "weather [[search oslo weather]] [[pause]]"


def _calls(emulator: Emulator) -> list[Any]:
    return [r["body"] for r in emulator.requests() if r["method"] == "POST"]


def _check_continued(emulator: Emulator) -> None:
    """The paused turn went back as Anthropic asks: the request again, the assistant's
    paused content (its search and the results) appended."""
    first, second = _calls(emulator)
    assert second["messages"][:-1] == first["messages"]
    paused = second["messages"][-1]
    assert paused["role"] == "assistant"
    assert [b["type"] for b in paused["content"]] == ["server_tool_use", "web_search_tool_result"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_turn_anthropic_pauses_is_continued_for_a_chat_client(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    """Chat has no `pause_turn`: the gateway sends the paused turn back until it ends, and
    the client gets the whole answer once (translation.md §7)."""
    emulator.clear()
    request: Any = {
        "model": MODELS_BY_PROVIDER["anthropic"],
        "messages": [{"role": "user", "content": PAUSED}],
        "web_search_options": {},
    }
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **request))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert [f for f in finishes if f] == ["stop"]
    else:
        result = client.chat.completions.create(**request)
        text = result.choices[0].message.content or ""
        assert result.choices[0].finish_reason == "stop"
        assert result.usage is not None and result.usage.completion_tokens > 0
    assert text == "You said: weather"
    _check_continued(emulator)


@pytest.mark.parametrize("stream", [False, True])
def test_a_turn_anthropic_pauses_is_continued_for_a_responses_client(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    emulator.clear()
    request: Any = {
        "model": MODELS_BY_PROVIDER["anthropic"],
        "input": PAUSED,
        "tools": [{"type": "web_search"}],
    }
    if stream:
        with client.responses.stream(**request) as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        response = client.responses.create(**request)
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output_text == "You said: weather"
    assert response.status == "completed"
    _check_continued(emulator)


def test_a_messages_client_gets_the_pause_itself(
    search_gateway: Gateway,  # noqa: F811
    emulator: Emulator,
    api_key: str,
) -> None:
    """Anthropic's own clients continue a paused turn themselves."""
    import anthropic

    emulator.clear()
    client = anthropic.Anthropic(base_url=search_gateway.url, api_key=api_key, max_retries=0)
    message = client.messages.create(
        model=MODELS_BY_PROVIDER["anthropic"],
        max_tokens=100,
        messages=[{"role": "user", "content": PAUSED}],
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )
    assert message.stop_reason == "pause_turn"
    assert len(_calls(emulator)) == 1
