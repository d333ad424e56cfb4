"""The emulator's Anthropic web search (`[[search QUERY]]` with web_search_20250305)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

SEARCH_TOOL: Any = {"type": "web_search_20250305", "name": "web_search"}


def create(client: Any, text: str, tools: Any, stream: bool = False) -> Any:
    kwargs: Any = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
        "tools": tools,
    }
    if stream:
        with client.messages.stream(**kwargs) as events:
            return events.get_final_message()
    return client.messages.create(**kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_search_answers_with_native_blocks(anthropic_client: Any, stream: bool) -> None:
    message = create(anthropic_client, "weather [[search Oslo weather]]", [SEARCH_TOOL], stream)
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    use, result, text = message.content
    assert use.id.startswith("srvtoolu_") and use.input == {"query": "Oslo weather"}
    assert result.tool_use_id == use.id
    assert [r.url for r in result.content] == [
        f"https://example.com/oslo-weather-{i}" for i in (1, 2, 3)
    ]
    assert result.content[0].title == "Result 1 for Oslo weather"
    assert result.content[0].page_age == "1 days ago" and result.content[0].encrypted_content
    assert text.text == "You said: weather"
    assert text.citations[0].type == "web_search_result_location"
    assert text.citations[0].url == "https://example.com/oslo-weather-1"
    assert text.citations[0].encrypted_index and text.citations[0].cited_text
    assert message.usage.server_tool_use.web_search_requests == 1


def test_searches_beyond_max_uses_are_errors(anthropic_client: Any) -> None:
    tool = {**SEARCH_TOOL, "max_uses": 1}
    message = create(anthropic_client, "[[search one]] [[search two]]", [tool])
    second = message.content[3]
    assert second.content.type == "web_search_tool_result_error"
    assert second.content.error_code == "max_uses_exceeded"
    assert message.usage.server_tool_use.web_search_requests == 1


def test_search_without_the_server_tool_is_a_400(anthropic_client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError, match="web_search_20250305"):
        create(anthropic_client, "[[search x]]", [])


def test_server_tools_are_not_client_tools(anthropic_client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError, match="no tool named 'web_search'"):
        create(anthropic_client, '[[tool web_search {"query": "x"}]]', [SEARCH_TOOL])
