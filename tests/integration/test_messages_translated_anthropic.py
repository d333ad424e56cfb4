"""A Claude request that leaves the fast path (a document only the gateway converts) keeps,
on its way to the Anthropic upstream, what the client sent: Anthropic-only top-level
fields, server tools, tool cache_control, a text source's media_type, a PDF's title; what
the IR cannot carry (a document's context and citations, a 1h cache ttl) is warned about,
there and on every other upstream."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.media_helpers import PDF
from tests.integration.servers import MODELS_BY_PROVIDER

MARKDOWN = {
    "type": "document",
    "source": {
        "type": "base64",
        "media_type": "text/markdown",
        "data": base64.b64encode(b"# Title\nsome markdown").decode(),
    },
    "title": "notes.md",
}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}
CACHED_TOOL = {
    "name": "t",
    "description": "d",
    "input_schema": {"type": "object"},
    "cache_control": {"type": "ephemeral"},
}
CITED = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "Cite me."},
    "title": "P",
    "context": "IMPORTANT CONTEXT",
    "citations": {"enabled": True},
}


def post(gateway: Gateway, api_key: str, body: Any) -> httpx.Response:
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    return httpx.post(gateway.url + "/v1/messages", json=body, headers=headers, timeout=30)


def test_translated_request_keeps_anthropic_fields(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    pdf = base64.b64encode(PDF).decode()
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "service_tier": "auto",
        "inference_geo": "us",
        "context_management": {"edits": []},
        "system": [{"type": "text", "text": "Sys", "cache_control": {"type": "ephemeral"}}],
        "tools": [EDITOR, CACHED_TOOL],
        "messages": [
            {
                "role": "user",
                "content": [
                    MARKDOWN,
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
                        "title": "report.pdf",
                    },
                    {"type": "text", "text": "hello"},
                ],
            }
        ],
    }
    emulator.clear()
    response = post(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert "polyrelay-warnings" not in response.headers
    sent = emulator.last()["body"]
    assert sent["service_tier"] == "auto" and sent["inference_geo"] == "us"
    assert sent["context_management"] == {"edits": []}
    assert sent["tools"] == [EDITOR, CACHED_TOOL]
    markdown, report, _ = sent["messages"][0]["content"]
    assert markdown["source"]["type"] == "text"
    assert markdown["source"]["media_type"] == "text/plain"
    assert report["title"] == "report.pdf"


def test_translated_request_warns_what_it_cannot_carry(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "messages": [{"role": "user", "content": [MARKDOWN, CITED, {"type": "text", "text": "x"}]}],
    }
    response = post(gateway, api_key, body)
    assert response.status_code == 200, response.text
    warnings = response.headers["polyrelay-warnings"]
    assert "context and citations are not carried" in warnings
    assert "ttl" not in warnings  # a 1h ttl is carried
    assert emulator.last()["body"]["system"][0]["cache_control"]["ttl"] == "1h"


def test_fast_path_relays_document_context_without_warning(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [CITED, {"type": "text", "text": "x"}]}],
    }
    response = post(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert "polyrelay-warnings" not in response.headers
    assert emulator.last()["body"]["messages"][0]["content"][0] == CITED


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "gemini"])
def test_document_context_elsewhere_is_warned(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    body = {
        "model": MODELS_BY_PROVIDER[provider],
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [CITED, {"type": "text", "text": "x"}]}],
    }
    response = post(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert "context and citations are not carried" in response.headers["polyrelay-warnings"]
