"""Bad web_search_20250305 options are 400s in Anthropic's error format naming the field."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Gateway

LOCATION: Any = {"type": "approximate", "city": "Oslo", "country": "NO", "timezone": "Europe/Oslo"}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "tools.0.allowed_domains"),
        ({"max_uses": 0}, "tools.0.max_uses"),
        ({"max_uses": 21}, "tools.0.max_uses"),
        ({"user_location": {**LOCATION, "country": "NOR"}}, "tools.0.user_location.country"),
        (
            {"user_location": {**LOCATION, "timezone": "Mars/Base"}},
            "tools.0.user_location.timezone",
        ),
        ({"user_location": {**LOCATION, "type": "exact"}}, "tools.0.user_location.type"),
        ({"allowed_domains": ["https://example.com"]}, "tools.0.allowed_domains[0]"),
        ({"blocked_domains": ["*.example.com"]}, "tools.0.blocked_domains[0]"),
    ],
    ids=[
        "both-lists",
        "max-uses-0",
        "max-uses-21",
        "country",
        "timezone",
        "type",
        "scheme",
        "wild",
    ],
)
def test_bad_options_are_400s(client: anthropic.Anthropic, options: Any, field: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="gpt-4o-mini",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "web_search_20250305", "name": "web_search", **options}],
        )
    error = caught.value
    assert error.status_code == 400
    body: Any = error.body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(field + ":")


def test_good_options_are_accepted(client: anthropic.Anthropic) -> None:
    # No index configured on this gateway: the search finds nothing, and says so.
    message = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        messages=[{"role": "user", "content": 'hi [[tool web_search {"query": "x"}]]'}],
        tools=[
            {
                "type": "web_search_20250305",
                "name": "web_search",
                "max_uses": 20,
                "allowed_domains": ["example.com/blog", "docs.example.com"],
                "user_location": LOCATION,
            }
        ],
    )
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert message.content[1].content == []
    assert "found no results" in message.content[2].text
