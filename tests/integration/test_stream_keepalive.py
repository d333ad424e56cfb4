"""Keep-alive during stream silence, through a real gateway (keep-alive every 0.2 s) to an
emulator pacing its words at 2 tokens/s: Anthropic clients get `event: ping` frames, Chat
and Responses clients the SSE comment `: keep-alive`, between the text deltas, on the fast
path and the translated one; the official SDKs still parse the stream. A tee transport
records the raw bytes the SDK read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY, configured_gateway

PROMPT = "[[pace 2]] hi there"
REPLY = "You said: hi there"
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
COMMENT = b": keep-alive\n\n"


@pytest.fixture(scope="module")
def keepalive_url(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("keepalive")
    with configured_gateway(emulator.url, workdir, "stream_keepalive_seconds: 0.2\n") as url:
        yield url


def _tee(lib: Any) -> Any:
    """An HTTPTransport of `lib` (httpx, or httpx2 for the anthropic SDK) that records the
    raw response bytes while the SDK reads them."""

    class Recorded(lib.SyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, sink: list[bytes]) -> None:
            self._inner = inner
            self._sink = sink

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                self._sink.append(chunk)
                yield chunk

        def close(self) -> None:
            self._inner.close()

    class Tee(lib.HTTPTransport):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.chunks: list[bytes] = []

        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            response.stream = Recorded(response.stream, self.chunks)
            return response

        def frames(self) -> list[bytes]:
            raw = b"".join(self.chunks)
            return [frame + b"\n\n" for frame in raw.split(b"\n\n") if frame]

    return Tee()


def _beats_between_deltas(frames: list[bytes], beat: bytes, delta_marker: bytes) -> int:
    """Heartbeats after the first text delta and before the last one."""
    deltas = [i for i, frame in enumerate(frames) if delta_marker in frame]
    assert len(deltas) >= 3, frames
    return sum(1 for frame in frames[deltas[0] : deltas[-1]] if frame == beat)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_messages_stream_gets_pings(keepalive_url: str, provider: str) -> None:
    tee = _tee(httpx2)
    client = anthropic.Anthropic(
        base_url=keepalive_url, api_key=STATIC_KEY, http_client=httpx2.Client(transport=tee)
    )
    with client.messages.stream(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=100,
        messages=[{"role": "user", "content": PROMPT}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    frames = tee.frames()
    assert frames[0].startswith(b"event: message_start\n")
    assert _beats_between_deltas(frames, PING, b'"text_delta"') >= 2
    assert COMMENT not in frames


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_chat_stream_gets_comments(keepalive_url: str, provider: str) -> None:
    tee = _tee(httpx)
    client = openai.OpenAI(
        base_url=keepalive_url + "/v1",
        api_key=STATIC_KEY,
        max_retries=0,
        http_client=httpx.Client(transport=tee),
    )
    chunks = list(
        client.chat.completions.create(
            model=MODELS_BY_PROVIDER[provider],
            stream=True,
            messages=[{"role": "user", "content": PROMPT}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    frames = tee.frames()
    assert frames[-1] == b"data: [DONE]\n\n"
    assert _beats_between_deltas(frames, COMMENT, b'"content":"') >= 2


@pytest.mark.parametrize("provider", ["openai-responses", "openai"])
def test_responses_stream_gets_comments(keepalive_url: str, provider: str) -> None:
    tee = _tee(httpx)
    client = openai.OpenAI(
        base_url=keepalive_url + "/v1",
        api_key=STATIC_KEY,
        max_retries=0,
        http_client=httpx.Client(transport=tee),
    )
    events: list[Any] = []
    with client.responses.stream(model=MODELS_BY_PROVIDER[provider], input=PROMPT) as stream:
        events.extend(stream)
        final = stream.get_final_response()
    assert final.output_text == REPLY
    assert final.status == "completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    frames = tee.frames()
    assert _beats_between_deltas(frames, COMMENT, b"response.output_text.delta") >= 2
