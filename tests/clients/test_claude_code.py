"""The real Claude Code (`claude -p --output-format json`) through polyrelay to emulated
OpenAI-chat and Gemini upstreams: a plain answer, and a turn where the model calls Bash
`echo`, Claude Code runs it and sends the tool_result back for the final answer."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.clients.support import Servers, run_servers
from tests.integration.servers import STATIC_KEY

CLAUDE = Path(__file__).parents[2] / ".clients" / "node_modules" / ".bin" / "claude"
# The names Claude Code is given with --model, and those it picks itself for side
# requests (titles, summaries with the haiku model; its default model), all routed here.
CLAUDE_MODELS = {
    "openai": "cc-openai: {provider: emu-openai, model: gpt-4o-mini}",
    "gemini": "cc-gemini: {provider: emu-gemini, model: gemini-2.5-flash}",
    "haiku": "claude-haiku-4-5-20251001: {provider: emu-openai, model: gpt-4o-mini}",
    "default": "claude-opus-4-8: {provider: emu-openai, model: gpt-4o-mini}",
}
TOOL_PROMPT = 'run it [[tool Bash {"command": "echo polyrelay-ok", "description": "echo"}]]'

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not CLAUDE.exists(), reason="Claude Code not installed (scripts/install_clients.sh)"
    ),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from run_servers(tmp_path_factory.mktemp("claude-servers"), CLAUDE_MODELS.values())


def run_claude(base: str, model: str, prompt: str, tmp_path: Path, *extra: str) -> Any:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir(exist_ok=True)  # a test may put files there first
    env = {
        **os.environ,
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base,
        "ANTHROPIC_API_KEY": STATIC_KEY,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [str(CLAUDE), "-p", prompt, "--output-format", "json", "--model", model, *extra]
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"claude failed: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.parametrize("model", ["cc-openai", "cc-gemini"])
def test_plain_answer(servers: Servers, tmp_path: Path, model: str) -> None:
    servers.emulator.clear()
    result = run_claude(servers.gateway, model, "hello from claude code", tmp_path)
    assert result["is_error"] is False, result
    assert result["result"].startswith("You said: ")
    if model == "cc-openai":
        # Claude Code puts a <system-reminder> block into the user message before the prompt.
        assert result["result"].endswith("hello from claude code")
    else:
        # Gemini has no mid-conversation system slot: Claude Code's trailing `role: system`
        # message becomes a marked user turn, which the emulator then answers.
        assert "system-reminder" in result["result"]
    assert any(
        "hello from claude code" in json.dumps(r["body"]) for r in servers.emulator.requests()
    )


@pytest.mark.parametrize("model", ["cc-openai", "cc-gemini"])
def test_bash_tool_round_trip(servers: Servers, tmp_path: Path, model: str) -> None:
    servers.emulator.clear()
    result = run_claude(
        servers.gateway, model, TOOL_PROMPT, tmp_path, "--allowedTools", "Bash(echo:*)"
    )
    assert result["is_error"] is False, result
    assert result["result"] == "Tool Bash returned: polyrelay-ok"
    assert result["num_turns"] >= 2
    # The tool result went back upstream after Claude Code ran the command.
    bodies = [json.dumps(r["body"]) for r in servers.emulator.requests()]
    assert any("polyrelay-ok" in b and "echo polyrelay-ok" in b for b in bodies[1:])
