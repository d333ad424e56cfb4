"""The real Codex CLI (`codex exec`) through polyrelay to emulated Anthropic and OpenAI-chat
upstreams: a plain answer, and a turn where the model calls Codex's shell tool
(`exec_command`), Codex runs it and sends the function_call_output back."""

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

CODEX = Path(__file__).parents[2] / ".clients" / "node_modules" / ".bin" / "codex"
# Codex sends `model = "gpt-5"` unless told otherwise: these names route it.
CODEX_MODELS = {
    "anthropic": "codex-anthropic: {provider: emu-anthropic, model: claude-sonnet-4-5}",
    "openai": "codex-openai: {provider: emu-openai, model: gpt-4o-mini}",
}

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not CODEX.exists(), reason="Codex CLI not installed (scripts/install_clients.sh)"
    ),
]

CONFIG = """\
model = "{model}"
model_provider = "gateway"
check_for_update_on_startup = false
[model_providers.gateway]
name = "gateway"
base_url = "{base}/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = {websocket}
[analytics]
enabled = false
[feedback]
enabled = false
[features]
plugins = false
remote_plugin = false
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from run_servers(tmp_path_factory.mktemp("codex-servers"), CODEX_MODELS.values())


def run_codex(
    base: str, model: str, prompt: str, tmp_path: Path, websocket: bool = False, *extra: str
) -> list[dict[str, Any]]:
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir(exist_ok=True)  # a test may put files there first
    flag = "true" if websocket else "false"
    (home / "config.toml").write_text(CONFIG.format(model=model, base=base, websocket=flag))
    env = {**os.environ, "OPENAI_API_KEY": STATIC_KEY, "CODEX_HOME": str(home)}
    command = [str(CODEX), "exec", "--skip-git-repo-check", "--ephemeral", "-C", str(work)]
    command += ["--color", "never", "--json", *extra, prompt]
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    events = [
        json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")
    ]
    assert events and events[-1]["type"] == "turn.completed", done.stdout.decode()[-2000:]
    return events


def completed(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind
    ]


@pytest.mark.parametrize("upstream", list(CODEX_MODELS))
def test_codex_plain_answer(servers: Servers, upstream: str, tmp_path: Path) -> None:
    events = run_codex(servers.gateway, f"codex-{upstream}", "hello from codex", tmp_path)
    messages = completed(events, "agent_message")
    assert len(messages) == 1
    assert messages[0]["text"].startswith("You said: ") and messages[0]["text"].endswith(
        "hello from codex"
    )
    assert events[-1]["usage"]["output_tokens"] > 0
    # What reached the upstream is the upstream's own protocol, not Responses.
    path = servers.emulator.last()["path"]
    assert path == ("/v1/messages" if upstream == "anthropic" else "/v1/chat/completions")


@pytest.mark.parametrize("transport", ["http", "websocket"])
@pytest.mark.parametrize("upstream", list(CODEX_MODELS))
def test_codex_runs_the_shell_tool(
    servers: Servers, upstream: str, transport: str, tmp_path: Path
) -> None:
    prompt = 'check [[tool exec_command {"cmd": "echo polyrelay-ok"}]]'
    logged = len(servers.log.read_text().splitlines())
    websocket = transport == "websocket"
    events = run_codex(servers.gateway, f"codex-{upstream}", prompt, tmp_path, websocket)
    requests = [line for line in servers.log.read_text().splitlines()[logged:] if "/v1/" in line]
    # Over the socket every turn, the tool output's included, is a WS request (Codex falls
    # back to HTTP when the socket fails, so this is what proves the socket served it).
    over = [line for line in requests if " WS /v1/responses " in line]
    assert len(over) == (len(requests) if websocket else 0) and requests, requests
    commands = completed(events, "command_execution")
    assert len(commands) == 1
    assert "echo polyrelay-ok" in commands[0]["command"] and commands[0]["exit_code"] == 0
    assert "polyrelay-ok" in commands[0]["aggregated_output"]
    answer = completed(events, "agent_message")[-1]["text"]
    assert answer.startswith("Tool exec_command returned: ") and "polyrelay-ok" in answer
