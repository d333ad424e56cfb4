"""Warnings about fields the gateway does not carry are true for the path taken.

The same-protocol fast path relays the client's body, unknown fields included, so it must
not claim they were ignored; a translation has no room for them and must say so. The
service's own `async: false` is the plain call: accepted everywhere, never sent upstream,
and a non-boolean `async` is refused.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from polyrelay.context import MAX_WARNINGS
from tests.integration.conftest import Emulator, Gateway

# endpoint, the fast path's model, a translated model, the body less its model
CASES = {
    "chat": (
        "/v1/chat/completions",
        "gpt-4o-mini",
        "claude-sonnet-4-5",
        {"messages": [{"role": "user", "content": "hi"}], "logprobs": True},
    ),
    "messages": (
        "/v1/messages",
        "claude-sonnet-4-5",
        "gpt-4o-mini",
        {"max_tokens": 16, "messages": "hi", "context_management": {"edits": []}},
    ),
    "responses": (
        "/v1/responses",
        "gpt-5-mini",
        "gemini-2.5-flash",
        {"input": "hi", "service_tier": "flex"},
    ),
}


def post(gateway: Gateway, api_key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {api_key}"})


def send_extras(
    protocol: str, translated: bool, gateway: Gateway, emulator: Emulator, api_key: str
) -> tuple[httpx.Response, str, dict[str, Any]]:
    """The protocol's body with an unknown field (`zz_extra`) and a known one the IR cannot
    carry; the response, that known field's name, and the body the upstream received."""
    path, fast, translation, rest = CASES[protocol]
    emulator.clear()
    model = translation if translated else fast
    response = post(gateway, api_key, path, {"model": model, **rest, "zz_extra": 1})
    assert response.status_code == 200, response.text
    known = next(key for key in rest if key not in {"messages", "input", "max_tokens"})
    return response, known, emulator.last()["body"]


@pytest.mark.parametrize("protocol", list(CASES))
def test_the_fast_path_relays_unknown_fields_and_warns_of_nothing(
    protocol: str, gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    response, known, sent = send_extras(protocol, False, gateway, emulator, api_key)
    assert "polyrelay-warnings" not in response.headers
    assert sent["zz_extra"] == 1 and known in sent


@pytest.mark.parametrize("protocol", list(CASES))
def test_a_translation_warns_of_each_field_it_drops(
    protocol: str, gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    response, known, sent = send_extras(protocol, True, gateway, emulator, api_key)
    warning = response.headers["polyrelay-warnings"]
    assert "zz_extra" in warning and known in warning
    assert "zz_extra" not in sent and known not in sent


@pytest.mark.parametrize("protocol", ["chat", "messages"])
@pytest.mark.parametrize("which", ["fast", "translated"])
def test_async_false_is_the_plain_call(
    protocol: str, which: str, gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    path, fast, translated, rest = CASES[protocol]
    model = fast if which == "fast" else translated
    emulator.clear()
    response = post(gateway, api_key, path, {"model": model, **rest, "async": False})
    assert response.status_code == 200, response.text
    assert "async" not in response.headers.get("polyrelay-warnings", "")
    assert "async" not in emulator.last()["body"]


@pytest.mark.parametrize("protocol", ["chat", "messages"])
def test_async_that_is_not_a_boolean_is_refused(
    protocol: str, gateway: Gateway, api_key: str
) -> None:
    path, model, _, rest = CASES[protocol]
    response = post(gateway, api_key, path, {"model": model, **rest, "async": "yes"})
    assert response.status_code == 400
    assert "async" in response.text


@pytest.mark.parametrize("protocol", list(CASES))
def test_a_flood_of_unknown_fields_is_answered_with_a_bounded_warning(
    protocol: str, gateway: Gateway, api_key: str
) -> None:
    """50,000 unknown fields: looking each warning up in the list so far took the event
    loop half a minute, and the header would have held 50,000 sentences."""
    path, _, translation, rest = CASES[protocol]
    extras = {f"zz_{i}": 1 for i in range(50_000)}
    started = time.monotonic()
    response = post(gateway, api_key, path, {"model": translation, **rest, **extras})
    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.text
    warning = response.headers["polyrelay-warnings"]  # its sentences may hold "; " too
    assert warning.count("zz_") <= MAX_WARNINGS
    assert re.search(r"; and \d+ more left out$", warning), warning[-200:]
    assert len(warning) < 4096
