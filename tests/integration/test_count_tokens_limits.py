"""POST /v1/messages/count_tokens is admitted against the key's rpm like every request: a
Gemini count with an image URL makes the gateway fetch the URL and call `:countTokens`,
and a key with `rpm: 2` could make it do so without bound. Past the rpm it is Anthropic's
429 `rate_limit_error` with `retry-after`, and nothing is fetched or sent upstream. A count
uses no tokens: it is never billed, and the key's token limits do not refuse it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.media_helpers import FileServer
from tests.integration.servers import gateway_config

EXTRA = 'fetch: {allow: ["127.0.0.1/32"], connect_timeout: 2, read_timeout: 5}\n'
LONG_TEXT = " ".join(["word"] * 200)


@pytest.fixture(scope="module")
def limits_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("count-tokens-limits")
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "polyrelay.db", extra=EXTRA))
    yield from serving_config(config)


def _new_key(gateway: Gateway, *limits: str) -> tuple[str, str]:
    """A key made by `polyrelay keys create` on the gateway's config: its id and secret."""
    first, secret = _cli(gateway, "keys", "create", "--name", "counting", *limits).splitlines()[:2]
    assert first.startswith("Created key ") and secret.startswith("sk-")
    return first.split()[2], secret


def _cli(gateway: Gateway, *args: str) -> str:
    """`polyrelay ARGS` on the gateway's config; its output."""
    config = str(gateway.log.parent / "polyrelay.yaml")
    command = [sys.executable, "-m", "polyrelay", *args, "--config", config]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _away_from_a_minute_boundary(seconds: float = 10) -> None:
    """The per-minute counts start again at each clock minute: do not straddle one."""
    if 60 - time.time() % 60 < seconds:
        time.sleep(60 - time.time() % 60 + 0.1)


def _post(gateway: Gateway, secret: str, path: str, model: str, content: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if path == "/v1/messages":
        body["max_tokens"] = 16
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)


def _count(gateway: Gateway, secret: str, model: str, content: Any) -> httpx.Response:
    return _post(gateway, secret, "/v1/messages/count_tokens", model, content)


def _assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "2 requests per minute" in body["error"]["message"]
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_a_count_that_fetches_a_url_is_held_to_the_keys_rpm(
    limits_gateway: Gateway, emulator: Emulator, files: FileServer
) -> None:
    _away_from_a_minute_boundary()
    _, secret = _new_key(limits_gateway, "--rpm", "2")
    image = {"type": "image", "source": {"type": "url", "url": files.url + "/img.png"}}
    content = [image, {"type": "text", "text": "what is this"}]
    hits = len(files.hits)
    emulator.clear()
    for _ in range(2):
        counted = _count(limits_gateway, secret, "gemini-2.5-flash", content)
        assert counted.status_code == 200, counted.text
    assert len(files.hits) == hits + 2
    assert len(emulator.requests()) == 2
    refused = _count(limits_gateway, secret, "gemini-2.5-flash", content)
    _assert_rate_limited(refused)
    assert len(files.hits) == hits + 2  # refused before anything was fetched
    assert len(emulator.requests()) == 2  # or counted upstream


def test_counts_and_messages_share_the_rpm(limits_gateway: Gateway, emulator: Emulator) -> None:
    _away_from_a_minute_boundary()
    _, secret = _new_key(limits_gateway, "--rpm", "2")
    assert _count(limits_gateway, secret, "claude-sonnet-4-5", "hi").status_code == 200
    assert _post(limits_gateway, secret, "/v1/messages", "gpt-4o-mini", "hi").status_code == 200
    _assert_rate_limited(_count(limits_gateway, secret, "claude-sonnet-4-5", "hi"))
    _assert_rate_limited(_post(limits_gateway, secret, "/v1/messages", "gpt-4o-mini", "hi"))


def test_a_count_is_never_billed_tokens(limits_gateway: Gateway) -> None:
    _away_from_a_minute_boundary()
    # A budget of 10 tokens: two counts of 200 words each would spend it many times over.
    key_id, secret = _new_key(limits_gateway, "--rpm", "4", "--token-budget", "10")
    for model in ("gemini-2.5-flash", "claude-sonnet-4-5"):
        counted = _count(limits_gateway, secret, model, LONG_TEXT)
        assert counted.status_code == 200, counted.text
        assert counted.json()["input_tokens"] >= 200
    # Served: the counts spent nothing. Its 6 + 8 tokens spend the budget.
    six = "one two three four five six"
    created = _post(limits_gateway, secret, "/v1/messages", "gpt-4o-mini", six)
    assert created.status_code == 200, created.text
    spent = _post(limits_gateway, secret, "/v1/messages", "gpt-4o-mini", six)
    assert spent.status_code == 429 and "token budget" in spent.json()["error"]["message"]
    # A count spends no tokens, so a spent budget does not refuse it; the rpm still does
    # (the refused message above was not counted: four requests were served).
    assert _count(limits_gateway, secret, "claude-sonnet-4-5", "hi").status_code == 200
    refused = _count(limits_gateway, secret, "claude-sonnet-4-5", "hi")
    assert refused.status_code == 429 and "4 requests per minute" in refused.text
    # Recorded: the one message served, not the four counts (the usage writer commits
    # within about a second).
    deadline = time.monotonic() + 10
    while True:
        rows = _cli(limits_gateway, "usage", "--group-by", "key", "--key", key_id).splitlines()
        mine = [row.split() for row in rows if row.startswith(key_id)]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [row[1:4] for row in mine] == [["1", "6", "8"]], rows
