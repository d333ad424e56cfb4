"""The web search server tool on /v1/messages with the anthropic SDK: the gateway's loop on
every non-Anthropic upstream, and the pass-through to an Anthropic upstream."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER
from tests.integration.web_search_support import PAGES, search_gateway  # noqa: F401

LOOP_PROVIDERS = ["openai", "openai-responses", "gemini"]
SEARCH = '[[tool web_search {"query": "relay guide"}]]'
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(search_gateway: Gateway, api_key: str) -> anthropic.Anthropic:  # noqa: F811
    return anthropic.Anthropic(base_url=search_gateway.url, api_key=api_key, max_retries=0)


def tool(**options: Any) -> Any:
    return {"type": "web_search_20250305", "name": "web_search", **options}


def ask(client: anthropic.Anthropic, provider: str, text: str, **options: Any) -> Any:
    return client.messages.create(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=512,
        messages=[{"role": "user", "content": text}],
        tools=[tool(**options)],
    )


def result_urls(message: Any) -> list[str]:
    blocks = [b for b in message.content if b.type == "web_search_tool_result"]
    assert len(blocks) == 1 and isinstance(blocks[0].content, list)
    return [r.url for r in blocks[0].content]


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_gateway_search_returns_native_blocks(
    client: anthropic.Anthropic, emulator: Emulator, provider: str
) -> None:
    emulator.clear()
    message = ask(client, provider, f"find the guide {SEARCH}")
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    use, result, text = message.content
    assert use.id.startswith("srvtoolu_") and use.name == "web_search"
    assert use.input == {"query": "relay guide"}
    assert result.tool_use_id == use.id
    first = result.content[0]
    assert first.url == "https://docs.example.com/guide/intro"
    assert first.title == "Polyrelay guide introduction"
    assert first.page_age == "2025-01-02"
    excerpt = base64.urlsafe_b64decode(first.encrypted_content.removeprefix("prs1.")).decode()
    assert "relay guide" in excerpt
    assert set(result_urls(message)) == set(PAGES)
    # The model read the results; its answer names the URLs, so it cites them.
    assert text.text.startswith("Tool web_search returned: Web search results:")
    cited = [c.url for c in text.citations]
    assert cited[0] == "https://docs.example.com/guide/intro" and set(cited) == set(PAGES)
    assert all(c.type == "web_search_result_location" and c.cited_text for c in text.citations)
    assert message.stop_reason == "end_turn"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    # Upstream: the function tool offered twice, the results fed back the second time.
    calls = [r for r in emulator.requests() if r["method"] == "POST"]
    assert len(calls) == 2
    assert "web_search" in str(calls[0]["body"]) and "docs.example.com" not in str(calls[0]["body"])
    assert "https://docs.example.com/guide/intro" in str(calls[1]["body"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"allowed_domains": ["example.com"]}, [u for u in PAGES if "example.com" in u]),
        ({"allowed_domains": ["docs.example.com"]}, ["https://docs.example.com/guide/intro"]),
        ({"allowed_domains": ["example.com/blog"]}, ["https://example.com/blog/post-1"]),
        (
            {"allowed_domains": ["other.org"]},
            ["https://other.org/relay", "https://sub.other.org/page"],
        ),
        (
            {"blocked_domains": ["example.com"]},
            ["https://other.org/relay", "https://sub.other.org/page"],
        ),
        (
            {"blocked_domains": ["sub.other.org", "example.com/blog"]},
            [
                "https://docs.example.com/guide/intro",
                "https://example.com/blogger/profile",
                "https://blog.example.com/news/launch",
                "https://other.org/relay",
            ],
        ),
    ],
    ids=["allow-domain", "allow-subdomain", "allow-subpath", "allow-other", "block", "block-mix"],
)
def test_domain_filters(client: anthropic.Anthropic, options: Any, expected: list[str]) -> None:
    message = ask(client, "openai", f"look {SEARCH}", **options)
    assert sorted(result_urls(message)) == sorted(expected)


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_parallel_searches_beyond_max_uses(client: anthropic.Anthropic, provider: str) -> None:
    two = '[[tool web_search {"query": "relay"}]] [[tool web_search {"query": "blog"}]]'
    message = ask(client, provider, f"twice {two}", max_uses=1)
    kinds = [b.type for b in message.content]
    assert kinds == ["server_tool_use", "web_search_tool_result"] * 2 + ["text"]
    first, second = message.content[1], message.content[3]
    assert isinstance(first.content, list) and first.content
    assert second.content.type == "web_search_tool_result_error"
    assert second.content.error_code == "max_uses_exceeded"
    assert second.tool_use_id == message.content[2].id
    assert "max_uses_exceeded" in message.content[4].text  # the model still answers
    assert message.usage.server_tool_use.web_search_requests == 1


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_streamed_blocks_arrive_in_order(client: anthropic.Anthropic, provider: str) -> None:
    order: list[str] = []
    with client.messages.stream(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=512,
        messages=[{"role": "user", "content": f"stream it {SEARCH}"}],
        tools=[tool()],
    ) as stream:
        for event in stream:
            if event.type == "content_block_start":
                order.append(event.content_block.type)
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                order.append("text_delta")
        final = stream.get_final_message()
    assert order[:3] == ["server_tool_use", "web_search_tool_result", "text"]
    assert order.index("web_search_tool_result") < order.index("text_delta")
    assert [b.type for b in final.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert final.content[0].input == {"query": "relay guide"}
    assert final.content[2].citations and final.content[2].citations[0].url in PAGES
    assert final.usage.server_tool_use is not None
    assert final.usage.server_tool_use.web_search_requests == 1
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_client_tool_in_the_same_turn_ends_the_loop(
    client: anthropic.Anthropic, provider: str
) -> None:
    both = f'{SEARCH} [[tool get_weather {{"city": "Oslo"}}]]'
    message = client.messages.create(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=512,
        messages=[{"role": "user", "content": both}],
        tools=[tool(), WEATHER_TOOL],
    )
    kinds = [b.type for b in message.content]
    assert kinds == ["server_tool_use", "web_search_tool_result", "tool_use"]
    assert message.content[2].name == "get_weather" and message.content[2].input == {"city": "Oslo"}
    assert message.stop_reason == "tool_use"


def test_earlier_results_are_replayed_to_the_model(
    client: anthropic.Anthropic, emulator: Emulator
) -> None:
    first = ask(client, "openai", f"find {SEARCH}")
    emulator.clear()
    history: Any = [
        {"role": "user", "content": f"find {SEARCH}"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "thanks"},
    ]
    second = client.messages.create(
        model=MODELS_BY_PROVIDER["openai"], max_tokens=256, messages=history, tools=[tool()]
    )
    assert second.content[0].type == "text" and second.content[0].text == "You said: thanks"
    sent = emulator.last()["body"]["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert "relay guide explains" in sent[2]["content"]  # the excerpt, from encrypted_content


def test_gateway_results_do_not_reach_an_anthropic_upstream(
    client: anthropic.Anthropic, emulator: Emulator
) -> None:
    """A conversation that moves to a Claude model: the gateway's own search blocks and the
    citations into them carry its `prs1.` tokens, which Anthropic cannot read; they are
    left out of the history (with a warning), the answer text stays."""
    first = ask(client, "openai", f"find {SEARCH}")
    assert first.content[2].citations
    emulator.clear()
    history: Any = [
        {"role": "user", "content": f"find {SEARCH}"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "thanks"},
    ]
    raw = client.messages.with_raw_response.create(
        model=MODELS_BY_PROVIDER["anthropic"], max_tokens=256, messages=history, tools=[tool()]
    )
    assert raw.parse().content[0].text == "You said: thanks"
    assert "gateway's own search" in raw.headers["polyrelay-warnings"]
    sent = emulator.last()["body"]
    assert "prs1." not in str(sent)
    assistant = sent["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["text"]
    assert assistant["content"][0]["text"] == first.content[2].text
    assert sent["tools"] == [tool()]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream_runs_its_own_search(
    client: anthropic.Anthropic, emulator: Emulator, stream: bool
) -> None:
    emulator.clear()
    options = {"max_uses": 3, "allowed_domains": ["example.com"]}
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER["anthropic"],
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "weather [[search oslo weather]]"}],
        "tools": [tool(**options)],
    }
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert message.content[1].content[0].url == "https://example.com/oslo-weather-1"
    citation = message.content[2].citations[0]
    assert citation.type == "web_search_result_location"
    assert citation.url == "https://example.com/oslo-weather-1"
    assert message.usage.server_tool_use.web_search_requests == 1
    # The tool reached the upstream unchanged, and the gateway ran no loop.
    calls = [r for r in emulator.requests() if r["method"] == "POST"]
    assert len(calls) == 1
    assert calls[0]["body"]["tools"] == [tool(**options)]


@pytest.mark.parametrize("provider", LOOP_PROVIDERS)
def test_server_tool_usage_validates(client: anthropic.Anthropic, provider: str) -> None:
    """The SDK's ServerToolUsage requires both counts, web_fetch_requests too."""
    raw = client.messages.with_raw_response.create(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=512,
        messages=[{"role": "user", "content": f"find the guide {SEARCH}"}],
        tools=[tool()],
    )
    body = raw.http_response.json()
    assert body["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}
    anthropic.types.Message.model_validate(body)
