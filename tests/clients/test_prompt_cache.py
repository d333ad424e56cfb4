"""Prompt caching end to end with the real clients, on the emulator's cache simulation
(a token is a word): each client runs a tool round trip, so two upstream requests share
its long prompt (Codex's instructions and tools are thousands of words, Claude Code's
more, past every minimum), and the second reads what the first cached. Each client reports
the read in its own terms (Codex's `cached_input_tokens`, Claude Code's
`cache_read_input_tokens`), and the usage rows record it, priced at the cache prices.

The figures are asserted as exact relations between the two requests, not as word counts
of a client's prompt, which change with its version. Each test empties the emulator's
cache first: the module's tests send the same client prompts."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from tests.clients.support import Servers, run_servers
from tests.clients.test_claude_code import CLAUDE, CLAUDE_MODELS, TOOL_PROMPT, run_claude
from tests.clients.test_codex import CODEX, completed, run_codex
from tests.integration.servers import STATIC_KEY

# Anthropic's prices for Sonnet (reads 0.1x, 5-minute writes 1.25x), on every model here.
PRICES = "input_price: 3, output_price: 15, cache_read_price: 0.3, cache_write_price: 3.75"
PRICED = {
    # One per transport, so that each run's usage rows are its own.
    "codex-cache-http": "emu-anthropic, model: claude-sonnet-4-5",
    "codex-cache-websocket": "emu-anthropic, model: claude-sonnet-4-5",
    "cc-cache-openai": "emu-openai, model: gpt-4o-mini",
    "cc-cache-anthropic": "emu-anthropic, model: claude-sonnet-4-5",
}
MODELS = [
    *CLAUDE_MODELS.values(),  # Claude Code's side requests, if any, are routed
    *(f"{name}: {{provider: {route}, {PRICES}}}" for name, route in PRICED.items()),
]
SHELL = 'check [[tool exec_command {"cmd": "echo polyrelay-ok"}]]'
AUTOMATIC = {"type": "ephemeral"}
STEP = 128
"""OpenAI caches a prompt in steps of 128 tokens."""

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not (CODEX.exists() and CLAUDE.exists()),
        reason="Codex CLI or Claude Code not installed (scripts/install_clients.sh)",
    ),
]


class Row(NamedTuple):
    """A usage row: `input` includes the cache reads and writes."""

    input: int
    output: int
    read: int
    write: int
    cost: float

    def priced(self) -> float:
        """The row's cost at PRICES, computed here."""
        uncached = self.input - self.read - self.write
        return (uncached * 3 + self.read * 0.3 + self.write * 3.75 + self.output * 15) / 1e6


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from run_servers(tmp_path_factory.mktemp("prompt-cache-servers"), MODELS)


def empty_cache(servers: Servers) -> None:
    response = httpx.delete(servers.emulator.url + "/_emulator/cache")
    assert response.status_code == 200
    servers.emulator.clear()


def usage_rows(servers: Servers, model: str, count: int) -> list[Row]:
    """The model's usage rows, oldest first, once `count` are in (GET /v1/usage commits
    the rows parked for writing); its summary there agrees with them."""
    deadline = time.monotonic() + 5
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    while True:
        data = httpx.get(servers.gateway + "/v1/usage?group_by=model", headers=headers).json()
        group = next((g for g in data["data"] if g["group"] == model), None)
        if (group and group["requests"] >= count) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert group is not None and group["requests"] == count, data
    with sqlite3.connect(servers.log.parent / "db.sqlite") as conn:
        found = conn.execute(
            "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
            " cost_usd FROM usage WHERE model = ? ORDER BY created_at, rowid",
            (model,),
        ).fetchall()
    rows = [Row(*row) for row in found]
    assert group["cache_read_tokens"] == sum(row.read for row in rows)
    assert group["cache_write_tokens"] == sum(row.write for row in rows)
    for row in rows:
        assert row.cost == pytest.approx(row.priced(), rel=1e-9), row
    assert group["cost_usd"] == pytest.approx(sum(row.cost for row in rows), rel=1e-9)
    return rows


def upstream_bodies(servers: Servers, path: str) -> list[dict[str, Any]]:
    requests = servers.emulator.requests()
    assert [r["path"] for r in requests] == [path, path], [r["path"] for r in requests]
    return [r["body"] for r in requests]


def block_markers(body: dict[str, Any]) -> int:
    """The Anthropic request's blocks with cache_control (the top-level one aside)."""
    text = json.dumps([body.get("tools"), body.get("system"), body["messages"]])
    return text.count('"cache_control"')


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_codex_session_reads_the_anthropic_cache(
    servers: Servers, transport: str, tmp_path: Path
) -> None:
    """Codex sends `prompt_cache_key` and no breakpoints: the gateway asks Anthropic for its
    automatic caching, so the tool call's turn reads the whole first prompt."""
    empty_cache(servers)
    model = f"codex-cache-{transport}"
    events = run_codex(servers.gateway, model, SHELL, tmp_path, transport == "websocket")
    assert "polyrelay-ok" in completed(events, "agent_message")[-1]["text"]
    for body in upstream_bodies(servers, "/v1/messages"):
        assert body["cache_control"] == AUTOMATIC
        assert block_markers(body) == 0
    first, second = usage_rows(servers, model, 2)
    # The automatic marker ends the prompt: the first request writes all of it...
    assert first.input > 1024 and (first.read, first.write) == (0, first.input)
    # ...and the next reads it all, writing only what the turn added.
    assert (second.read, second.write) == (first.input, second.input - first.input)
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == first.input + second.input
    assert usage["cached_input_tokens"] == first.input
    assert usage["cache_write_input_tokens"] == first.write + second.write


def test_claude_code_reads_the_openai_cache(servers: Servers, tmp_path: Path) -> None:
    """Translated to Chat, Claude Code's breakpoints are dropped and OpenAI caches by itself:
    the second request reads the first's prompt (in 128-token steps), which Claude Code is
    told as `cache_read_input_tokens`."""
    empty_cache(servers)
    result = run_claude(
        servers.gateway, "cc-cache-openai", TOOL_PROMPT, tmp_path, "--allowedTools", "Bash(echo:*)"
    )
    assert result["result"] == "Tool Bash returned: polyrelay-ok", result
    bodies = upstream_bodies(servers, "/v1/chat/completions")
    assert all("cache_control" not in json.dumps(body) for body in bodies)
    first, second = usage_rows(servers, "cc-cache-openai", 2)
    assert first.input > 1024 and (first.read, first.write) == (0, 0)
    assert (second.read, second.write) == (first.input // STEP * STEP, 0)
    usage = result["usage"]
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (
        second.read,
        0,
    )
    # Anthropic's input_tokens leaves the cache reads out.
    assert usage["input_tokens"] == first.input + second.input - second.read


def test_claude_code_reads_its_own_breakpoints_on_anthropic(
    servers: Servers, tmp_path: Path
) -> None:
    """The fast path: Claude Code's own breakpoints go to Anthropic as sent; the second
    request reads what the first wrote at them."""
    empty_cache(servers)
    result = run_claude(
        servers.gateway,
        "cc-cache-anthropic",
        TOOL_PROMPT,
        tmp_path,
        "--allowedTools",
        "Bash(echo:*)",
    )
    assert result["result"] == "Tool Bash returned: polyrelay-ok", result
    for body in upstream_bodies(servers, "/v1/messages"):
        assert "cache_control" not in body and 0 < block_markers(body) <= 4
    first, second = usage_rows(servers, "cc-cache-anthropic", 2)
    assert first.read == 0 and first.write > 1024
    assert second.read == first.write and second.write > 0
    usage = result["usage"]
    assert usage["cache_read_input_tokens"] == second.read
    assert usage["cache_creation_input_tokens"] == first.write + second.write
    assert usage["cache_creation"]["ephemeral_5m_input_tokens"] == first.write + second.write
    assert (
        usage["input_tokens"]
        == first.input + second.input - second.read - usage["cache_creation_input_tokens"]
    )
