"""The real Codex CLI doing agent work through polyrelay to each upstream type it is
translated to (Anthropic, OpenAI Chat, Gemini): a look at a file then a thought-out
`apply_patch` (Codex's free-form custom tool) over two turns with the reasoning sent back
(`store: false`, encrypted content), a 100 KB non-ASCII patch, two shell calls in one turn,
and its `web_search` tool (Anthropic's own search; the gateway's elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.clients.support import Servers, run_servers_with_search, tool
from tests.clients.test_codex import CODEX, completed, run_codex
from tests.integration.web_search_support import PAGES

# Codex offers apply_patch as a custom tool to the gpt-5.5 family, whatever the suffix.
UPSTREAMS = {
    "anthropic": "gpt-5.5-anthropic: {provider: emu-anthropic, model: claude-sonnet-4-5}",
    "openai": "gpt-5.5-openai: {provider: emu-openai, model: gpt-4o-mini}",
    "gemini": "gpt-5.5-gemini: {provider: emu-gemini, model: gemini-2.5-flash}",
}
WRITE = ("--sandbox", "workspace-write")

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not CODEX.exists(), reason="Codex CLI not installed (scripts/install_clients.sh)"
    ),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from run_servers_with_search(
        tmp_path_factory.mktemp("codex-agent-servers"), UPSTREAMS.values()
    )


def work_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "work" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_looks_then_patches_a_file(servers: Servers, upstream: str, tmp_path: Path) -> None:
    notes = work_file(tmp_path, "notes.txt", "alpha\nbéta ✓ 日本\ngamma\n")
    patch = "*** Begin Patch\n*** Update File: notes.txt\n@@\n alpha\n-béta ✓ 日本\n"
    patch += "+BÊTA ✔ 日本語\n gamma\n*** End Patch\n"
    prompt = (
        f"fix the notes [[think first a löök]] {tool('exec_command', {'cmd': 'cat notes.txt'})}"
        f" [[then]] [[think now the pätch]] {tool('apply_patch', {'input': patch})}"
    )
    servers.emulator.clear()
    events = run_codex(servers.gateway, f"gpt-5.5-{upstream}", prompt, tmp_path, False, *WRITE)
    assert [item["text"] for item in completed(events, "reasoning")] == [
        "first a löök",
        "now the pätch",
    ]
    assert "béta ✓ 日本" in completed(events, "command_execution")[0]["aggregated_output"]
    assert completed(events, "file_change")[0]["status"] == "completed"
    assert notes.read_text() == "alpha\nBÊTA ✔ 日本語\ngamma\n"
    answer = completed(events, "agent_message")[-1]["text"]
    assert answer.startswith("Tool apply_patch returned: ") and "Success" in answer
    # The last call sends both turns' reasoning back in the upstream's own signed form.
    body = json.dumps(servers.emulator.last()["body"], ensure_ascii=False)
    thoughts = {"anthropic": '"type": "thinking"', "gemini": '"thought": true'}
    signed = {"anthropic": '"signature": "emu-sig-', "gemini": '"thoughtSignature": "'}
    if upstream in signed:
        assert body.count(thoughts[upstream]) == body.count(signed[upstream]) == 2, body[-3000:]


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_applies_a_100_kb_non_ascii_patch(servers: Servers, upstream: str, tmp_path: Path) -> None:
    lines = [f"ünïcødé ✓ 日本語 line {n:05d} abcdefghijklmnop" for n in range(1900)]
    patch = "*** Begin Patch\n*** Add File: big.txt\n" + "".join(f"+{line}\n" for line in lines)
    assert len(patch.encode()) > 100_000
    prompt = "add it " + tool("apply_patch", {"input": patch + "*** End Patch\n"})
    events = run_codex(servers.gateway, f"gpt-5.5-{upstream}", prompt, tmp_path, False, *WRITE)
    assert completed(events, "file_change")[0]["status"] == "completed"
    assert (tmp_path / "work" / "big.txt").read_text() == "".join(f"{line}\n" for line in lines)


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_two_shell_calls_in_one_turn(servers: Servers, upstream: str, tmp_path: Path) -> None:
    calls = tool("exec_command", {"cmd": "echo één"}) + tool("exec_command", {"cmd": "echo twee"})
    events = run_codex(servers.gateway, f"gpt-5.5-{upstream}", f"both {calls}", tmp_path)
    outputs = sorted(item["aggregated_output"] for item in completed(events, "command_execution"))
    assert len(outputs) == 2 and "één" in outputs[1] and "twee" in outputs[0], outputs
    answer = completed(events, "agent_message")[-1]["text"]
    assert answer.count("Tool exec_command returned: ") == 2 and "één" in answer


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_web_search(servers: Servers, upstream: str, tmp_path: Path) -> None:
    # Anthropic runs the search itself ([[search]]); elsewhere the model calls the gateway's.
    script = (
        "[[search relay]]" if upstream == "anthropic" else '[[tool web_search {"query": "relay"}]]'
    )
    events = run_codex(servers.gateway, f"gpt-5.5-{upstream}", f"look up {script}", tmp_path)
    searches = completed(events, "web_search")
    assert [search["query"] for search in searches] == ["relay"]
    if upstream != "anthropic":  # the emulator's Anthropic search has pages of its own
        answer = completed(events, "agent_message")[-1]["text"]
        assert any(url in answer for url in PAGES), answer
