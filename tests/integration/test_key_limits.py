"""Per-key limits end to end: keys made by `polyrelay keys create --rpm/--tpm/--token-budget/
--expires-in` against the running gateway's database, then the official SDKs, which see a
429 (with `retry-after` for the per-minute limits) or a 401 in their own protocol."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.servers import EXPIRED_KEY, RPM_KEY

HELLO: Any = [{"role": "user", "content": "hello there friend"}]


def polyrelay(gateway: Gateway, *args: str) -> str:
    """The CLI on the gateway's own config; its output."""
    config = str(gateway.log.parent / "polyrelay.yaml")
    command = [sys.executable, "-m", "polyrelay", *args, "--config", config]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def new_key(gateway: Gateway, *limits: str) -> str:
    """A key made by the CLI on the gateway's own config; its secret."""
    out = polyrelay(gateway, "keys", "create", "--name", "limited", *limits)
    first, secret = out.splitlines()[:2]
    assert "limits: " in first and secret.startswith("sk-")
    return secret


def chat(gateway: Gateway, secret: str) -> Any:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)


def away_from_a_minute_boundary(seconds: float = 8) -> None:
    """The per-minute counts start again at each clock minute: do not straddle one."""
    if 60 - time.time() % 60 < seconds:
        time.sleep(60 - time.time() % 60 + 0.1)


def until_refused(gateway: Gateway, secret: str) -> tuple[int, openai.RateLimitError]:
    """Requests until the key is refused; how many were served, and the refusal. (One
    gateway process counts a request's tokens as soon as it ends.)"""
    for served in range(10):
        try:
            chat(gateway, secret)
        except openai.RateLimitError as refused:
            return served, refused
    raise AssertionError("never refused after 10 requests")


def test_requests_per_minute(gateway: Gateway) -> None:
    away_from_a_minute_boundary()
    secret = new_key(gateway, "--rpm", "2")
    chat(gateway, secret)
    chat(gateway, secret)
    with pytest.raises(openai.RateLimitError) as info:
        chat(gateway, secret)
    assert info.value.code == "rate_limit_exceeded"
    assert "2 requests per minute" in info.value.message
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    client = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=HELLO)
    assert refused.value.response.json()["error"]["type"] == "rate_limit_error"


def test_a_static_key_from_the_config_takes_limits_too(gateway: Gateway) -> None:
    away_from_a_minute_boundary()
    chat(gateway, RPM_KEY)
    chat(gateway, RPM_KEY)
    with pytest.raises(openai.RateLimitError, match="2 requests per minute"):
        chat(gateway, RPM_KEY)


def test_a_static_key_past_its_expiry_is_refused(gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as expired:
        chat(gateway, EXPIRED_KEY)
    assert expired.value.code == "expired_api_key"
    assert "expired at 2020-01-01 00:00 UTC" in expired.value.message


def test_tokens_per_minute(gateway: Gateway) -> None:
    away_from_a_minute_boundary(15)
    # "hello there friend" is 3 input tokens and its 5-word reply 5 output ones.
    secret = new_key(gateway, "--tpm", "20")
    served, refused = until_refused(gateway, secret)
    assert served == 3  # 8 tokens each: refused once 24 are counted
    assert "20 tokens per minute" in refused.message
    assert "retry-after" in refused.response.headers


def test_a_spent_token_budget_refuses_for_good(gateway: Gateway) -> None:
    secret = new_key(gateway, "--token-budget", "10")
    served, refused = until_refused(gateway, secret)
    assert served == 2  # 16 tokens of 10
    assert refused.code == "insufficient_quota" and "token budget" in refused.message
    assert "retry-after" not in refused.response.headers
    with pytest.raises(openai.RateLimitError):
        chat(gateway, secret)


def test_an_expired_key_is_refused(gateway: Gateway) -> None:
    secret = new_key(gateway, "--expires-in", "90m")
    database = gateway.log.parent / "polyrelay.db"
    with sqlite3.connect(database) as conn:  # as if the 90 minutes had passed
        conn.execute(
            "UPDATE api_keys SET expires_at = ? WHERE prefix = ?",
            (int(time.time()) - 1, secret[:10]),
        )
    with pytest.raises(openai.AuthenticationError) as info:
        chat(gateway, secret)
    assert "expired" in info.value.message and info.value.code == "expired_api_key"


def test_keys_list_shows_the_limits(gateway: Gateway) -> None:
    new_key(gateway, "--rpm", "7", "--tpm", "900", "--expires-in", "2d")
    out = polyrelay(gateway, "keys", "list")
    assert "rpm 7, tpm 900, expires 20" in out


def test_unlimited_keys_count_nothing(gateway: Gateway, api_key: str) -> None:
    chat(gateway, api_key)  # the config's static key
    chat(gateway, new_key(gateway))  # a stored key without limits
    database = gateway.log.parent / "polyrelay.db"
    with sqlite3.connect(database) as conn:
        counted = conn.execute(
            "SELECT COUNT(*) FROM key_minutes WHERE key_id = 'static:ci' OR key_id IN"
            " (SELECT id FROM api_keys WHERE rpm IS NULL AND tpm IS NULL AND token_budget IS NULL)"
        )
        assert counted.fetchone() == (0,)
