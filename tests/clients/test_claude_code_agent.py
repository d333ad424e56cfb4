"""The real Claude Code doing agent work through polyrelay to each upstream type it is
translated to (OpenAI Chat, OpenAI Responses, Gemini): a Read then a thought-out Edit of a
file over two turns (the reasoning sent back each turn), a Write of 100 KB of non-ASCII
text, two tools in one turn with an image among the results, and its WebSearch tool run by
the gateway's own search."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.clients.support import Servers, run_servers_with_search, tool
from tests.clients.test_claude_code import CLAUDE, CLAUDE_MODELS, run_claude
from tests.integration.web_search_support import PAGES

MODELS = {
    **CLAUDE_MODELS,
    "responses": "cc-responses: {provider: emu-responses, model: gpt-5-mini}",
}
UPSTREAMS = ["openai", "responses", "gemini"]
NOTES = "alpha\nbéta ✓ 日本\ngamma\n"

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not CLAUDE.exists(), reason="Claude Code not installed (scripts/install_clients.sh)"
    ),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from run_servers_with_search(
        tmp_path_factory.mktemp("claude-agent-servers"), MODELS.values()
    )


def last_body(servers: Servers) -> str:
    return json.dumps(servers.emulator.last()["body"], ensure_ascii=False)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_reads_then_edits_a_file(servers: Servers, upstream: str, tmp_path: Path) -> None:
    notes = tmp_path / "work" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text(NOTES)
    edit = {"file_path": str(notes), "old_string": "béta ✓ 日本", "new_string": "BÊTA ✔ 日本語"}
    prompt = (
        f"fix the notes {tool('Read', {'file_path': str(notes)})} [[then]]"
        f" [[think the béta line needs an édit]] {tool('Edit', edit)}"
    )
    servers.emulator.clear()
    result = run_claude(
        servers.gateway, f"cc-{upstream}", prompt, tmp_path, "--allowedTools", "Read", "Edit"
    )
    assert result["is_error"] is False, result
    assert result["num_turns"] == 3
    assert result["result"].startswith("Tool Edit returned: The file ")
    assert notes.read_text() == "alpha\nBÊTA ✔ 日本語\ngamma\n"
    # The last call carries both turns back, the second's reasoning in the upstream's form.
    body = last_body(servers)
    assert "2\\tbéta ✓ 日本" in body and "BÊTA ✔ 日本語" in body
    if upstream == "responses":
        assert '"encrypted_content": "emu-enc-' in body
    if upstream == "gemini":
        assert '"thoughtSignature": "' in body


@pytest.mark.parametrize("upstream", ["responses", "gemini"])
def test_writes_100_kb_of_non_ascii(servers: Servers, upstream: str, tmp_path: Path) -> None:
    target = tmp_path / "work" / "big.txt"
    content = "".join(f"ünïcødé ✓ 日本語 line {n:05d} abcdefghijklmnop\n" for n in range(1900))
    assert len(content.encode()) > 100_000
    prompt = "write it " + tool("Write", {"file_path": str(target), "content": content})
    result = run_claude(
        servers.gateway, f"cc-{upstream}", prompt, tmp_path, "--allowedTools", "Write"
    )
    assert result["is_error"] is False, result
    assert result["result"].startswith("Tool Write returned: File created successfully")
    assert target.read_text() == content


def red_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = (8).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8)))
    ihdr, idat, iend = chunk(b"IHDR", header), chunk(b"IDAT", pixels), chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + iend


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_two_tools_in_one_turn_one_returning_an_image(
    servers: Servers, upstream: str, tmp_path: Path
) -> None:
    image = tmp_path / "work" / "red.png"
    image.parent.mkdir()
    image.write_bytes(red_png())
    read = tool("Read", {"file_path": str(image)})
    bash = tool("Bash", {"command": "echo parallel-ok", "description": "echo"})
    servers.emulator.clear()
    result = run_claude(
        servers.gateway,
        f"cc-{upstream}",
        f"look {read} {bash}",
        tmp_path,
        "--allowedTools",
        "Read",
        "Bash(echo:*)",
    )
    assert result["is_error"] is False, result
    assert result["num_turns"] == 3
    calls, answer = servers.emulator.requests()[-2:]
    assert all(name in json.dumps(calls["body"]) for name in ('"Read"', '"Bash"'))
    # Both results went back, the PNG's bytes as an image the upstream can see.
    body = json.dumps(answer["body"])
    assert "parallel-ok" in body and base64.b64encode(red_png()).decode() in body
    if upstream != "openai":  # Chat has no image in a tool message: it follows as user content
        assert result["result"] == "Tool Read returned:\nTool Bash returned: parallel-ok"


@pytest.mark.parametrize("upstream", ["openai", "gemini"])
def test_web_search_runs_on_the_gateway(servers: Servers, upstream: str, tmp_path: Path) -> None:
    # Claude Code's WebSearch tool asks the model again with the web_search_20250305 server
    # tool; the query, passed through, scripts the model's search call (`}]]` escaped).
    search = 'relay [[tool web_search {\\"query\\": \\"relay\\"\\u007d\\u005d\\u005d'
    prompt = f'find [[tool WebSearch {{"query": "{search}"}}]]'
    result = run_claude(
        servers.gateway, f"cc-{upstream}", prompt, tmp_path, "--allowedTools", "WebSearch"
    )
    assert result["is_error"] is False, result
    assert result["result"].startswith("Tool WebSearch returned: Web search results for query")
    assert any(url in result["result"] for url in PAGES), result["result"]


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_a_thought_out_answer_is_the_result(
    servers: Servers, upstream: str, tmp_path: Path
) -> None:
    # Gemini signs its answer on its last part: as a thinking block after the text it was
    # the last block, which Claude Code reports as the result ("").
    result = run_claude(servers.gateway, f"cc-{upstream}", "hi [[think hmm]] there", tmp_path)
    assert result["is_error"] is False, result
    assert result["result"].startswith("You said: ") and "hi there" in result["result"]
