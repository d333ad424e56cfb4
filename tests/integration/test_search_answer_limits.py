"""A web search backend's answer is bounded like every other fetch: its bytes as sent and
once inflated (a gzip bomb stops at the limit), and the excerpts that go to the model are
cut per hit and per search, marked "[truncated]". A fake SearXNG on 127.0.0.1 serves the
answers; the gateway-level tests run the real gateway on it."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from polyrelay.search.backends import SearchError, SearchHit
from polyrelay.search.searxng import SearxngBackend
from polyrelay.tools.web_search_limits import (
    MAX_EXCERPT_CHARS,
    MAX_TITLE_CHARS,
    MAX_TOTAL_EXCERPT_CHARS,
    TRUNCATED,
    bounded_hits,
)
from tests.integration.conftest import Emulator, Gateway, serving

MIB = 1024 * 1024
LIMIT = 256 * 1024  # the backends' byte limit in the direct tests
HUGE = 40 * MIB  # an answer body this long is streamed, and must not be read whole


def _answer(content: str, url: str = "https://example.com/a", title: str = "A page") -> bytes:
    result = {"url": url, "title": title, "content": content}
    return json.dumps({"results": [result]}).encode()


def _bomb(inflated: int) -> bytes:
    """Valid JSON of `inflated` bytes, gzipped to a few tens of KB."""
    head = b'{"results":[{"url":"https://example.com/","title":"t","content":"'
    out = gzip.compress(head + b"A" * (inflated - len(head) - 4) + b'"}]}', compresslevel=9)
    assert len(out) < inflated // 500
    return out


class FakeSearxng:
    """Answers `/search?q=<mode>` by mode, and counts the bytes a streamed answer got out."""

    def __init__(self) -> None:
        self.streamed = 0
        self.stream_done = threading.Event()
        self.bomb = _bomb(64 * MIB)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                mode = parse_qs(urlparse(self.path).query).get("q", [""])[0]
                if mode == "huge":
                    fake.stream(self)
                    return
                body, encoding = fake.body(mode)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                del args

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def body(self, mode: str) -> tuple[bytes, str]:
        match mode:
            case "bomb":
                return self.bomb, "gzip"
            case "gzip":
                return gzip.compress(_answer("small and gzipped")), "gzip"
            case "deflate":
                return zlib.compress(_answer("small and deflated")), "deflate"
            case "brotli":
                return b"\x00\x01", "br"
            case "long":
                return _answer("word " * 20_000, title="T" * 1_000), ""
            case _:
                return _answer("plain"), ""

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        """A valid JSON answer of HUGE bytes, chunked (no Content-Length to refuse early)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        head = b'{"results":[{"url":"https://example.com/","title":"t","content":"'
        pieces = [head] + [b"A" * MIB] * (HUGE // MIB) + [b'"}]}']
        try:
            for piece in pieces:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.streamed += len(piece)
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the reader stopped and closed: what it read is counted
        finally:
            self.stream_done.set()

    def __enter__(self) -> FakeSearxng:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSearxng]:
    with FakeSearxng() as server:
        yield server


def _backend(fake: FakeSearxng) -> SearxngBackend:
    return SearxngBackend(fake.url, timeout=20, max_bytes=LIMIT)


# --- the backend's read -------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_gzip_bomb_stops_at_the_limit(fake: FakeSearxng) -> None:
    with pytest.raises(SearchError) as caught:
        await _backend(fake).search("bomb", limit=5)
    assert caught.value.code == "unavailable"
    assert f"more than {LIMIT} bytes" in caught.value.message


@pytest.mark.anyio
async def test_a_huge_answer_is_not_read_past_the_limit(fake: FakeSearxng) -> None:
    fake.stream_done.clear()
    with pytest.raises(SearchError) as caught:
        await _backend(fake).search("huge", limit=5)
    assert caught.value.code == "unavailable"
    assert f"more than {LIMIT} bytes" in caught.value.message
    assert fake.stream_done.wait(10)
    # The socket buffers on the way hold a few MB; the reader took none of the rest.
    assert fake.streamed < HUGE // 4, fake.streamed


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["gzip", "deflate"])
async def test_small_compressed_answers_are_read(fake: FakeSearxng, mode: str) -> None:
    [hit] = await _backend(fake).search(mode, limit=5)
    assert hit.text == f"small and {mode}d".replace("gzipd", "gzipped")


@pytest.mark.anyio
async def test_an_unknown_content_coding_is_unavailable(fake: FakeSearxng) -> None:
    with pytest.raises(SearchError) as caught:
        await _backend(fake).search("brotli", limit=5)
    assert caught.value.code == "unavailable"
    assert "br-encoded" in caught.value.message


# --- what goes into the tool result -------------------------------------------------------


def test_long_excerpts_and_titles_are_cut_and_marked() -> None:
    hits = [
        SearchHit(url=f"https://example.com/{n}", title="T" * 1_000, text="x" * 5_000)
        for n in range(8)
    ]
    hits.append(SearchHit(url="https://example.com/" + "p" * 5_000, title="long URL", text=""))
    hits.append(SearchHit(url="https://example.com/short", title="Short", text="short"))
    bounded = bounded_hits(hits)
    assert "long URL" not in [hit.title for hit in bounded]  # a cut URL would be wrong
    assert all(len(hit.title) == MAX_TITLE_CHARS + len(TRUNCATED) for hit in bounded[:8])
    assert all(hit.text.endswith("[truncated]") for hit in bounded[:8])
    excerpts = [hit.text.removesuffix("[truncated]").rstrip() for hit in bounded[:8]]
    assert max(len(text) for text in excerpts) == MAX_EXCERPT_CHARS
    assert sum(len(text) for text in excerpts) == MAX_TOTAL_EXCERPT_CHARS
    assert bounded[-1].text == "[truncated]"  # the search's budget was spent
    assert bounded_hits(hits[-1:]) == hits[-1:]  # what fits is kept as it is


# --- through the gateway ------------------------------------------------------------------


@pytest.fixture(scope="module")
def search_gateway(
    emulator: Emulator, fake: FakeSearxng, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp("search-limits")
    extra = f'search: {{backend: searxng, base_url: "{fake.url}", timeout: 30}}\n'
    yield from serving(workdir, emulator, extra=extra)


def _search(gateway: Gateway, api_key: str, query: str) -> dict[str, Any]:
    call = "[[tool web_search " + json.dumps({"query": query}) + "]]"
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": f"look it up {call}"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
    }
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    reply = httpx.post(gateway.url + "/v1/messages", json=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text[:500]
    document: dict[str, Any] = reply.json()
    return document


def _result_block(message: dict[str, Any]) -> Any:
    [block] = [b for b in message["content"] if b["type"] == "web_search_tool_result"]
    return block["content"]


def test_the_gateway_reports_a_gzip_bomb_as_a_failed_search(
    search_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    message = _search(search_gateway, api_key, "bomb")
    assert _result_block(message) == {
        "type": "web_search_tool_result_error",
        "error_code": "unavailable",
    }
    # The model was told the search failed, and got nothing of the answer.
    upstream = max(len(json.dumps(r["body"])) for r in emulator.requests() if r["body"])
    assert upstream < 10_000


def test_the_model_gets_cut_excerpts_marked_truncated(
    search_gateway: Gateway, api_key: str
) -> None:
    message = _search(search_gateway, api_key, "long")
    [result] = _result_block(message)
    excerpt = base64.urlsafe_b64decode(result["encrypted_content"].removeprefix("prs1.")).decode()
    assert excerpt.endswith(TRUNCATED) and len(excerpt) <= MAX_EXCERPT_CHARS + len(TRUNCATED)
    assert result["title"].endswith(TRUNCATED)
    text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert "[truncated]" in text  # the emulator's model repeats the tool result it read
    assert len(text) < MAX_EXCERPT_CHARS + 2 * MAX_TITLE_CHARS
