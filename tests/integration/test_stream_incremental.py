"""No added buffering (issue: benchmark and speed, item 5): through the real gateway to an
emulator that paces its words at 5 tokens/s, the client's first content byte arrives long
before the upstream sends its last word, on every path of the benchmark matrix (the two
same-protocol fast paths and the translated ones), streamed as raw HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY

WORDS = "one two three four five six seven"
PROMPT = f"[[pace 5]] {WORDS}"
# The reply is "You said: one ... seven": 9 words at 5/s, so the upstream's last word
# leaves about 1.6 s after its first.
UPSTREAM_SECONDS = 1.6

PATHS = {
    "chat→openai": ("/v1/chat/completions", "openai"),
    "messages→anthropic": ("/v1/messages", "anthropic"),
    "messages→openai": ("/v1/messages", "openai"),
    "chat→anthropic": ("/v1/chat/completions", "anthropic"),
    "responses→openai": ("/v1/responses", "openai"),
    "responses→openai-responses": ("/v1/responses", "openai-responses"),
}


def _body(path: str, model: str) -> dict[str, object]:
    message = {"role": "user", "content": PROMPT}
    if path == "/v1/responses":
        return {"model": model, "input": PROMPT, "stream": True}
    body: dict[str, object] = {"model": model, "messages": [message], "stream": True}
    if path == "/v1/messages":
        body["max_tokens"] = 100
    return body


@pytest.mark.parametrize("name", list(PATHS))
def test_first_content_arrives_before_the_upstream_is_done(gateway: Gateway, name: str) -> None:
    path, provider = PATHS[name]
    headers = {"Authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            gateway.url + path,
            json=_body(path, MODELS_BY_PROVIDER[provider]),
            headers=headers,
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    raw = b"".join(chunk for _, chunk in arrivals)
    assert b"seven" in raw  # the whole reply came through
    first_content = next(at for at, chunk in arrivals if b"You" in chunk)
    last_word = next(at for at, chunk in arrivals if b"seven" in chunk)
    # The upstream really paced (so the test can tell streaming from buffering) ...
    assert last_word >= UPSTREAM_SECONDS * 0.75, arrivals
    # ... and the first words reached the client while it was still sending.
    assert first_content <= last_word - UPSTREAM_SECONDS * 0.5, [a for a, _ in arrivals]
    words_seen_at = [
        at for at, chunk in arrivals if any(w.encode() in chunk for w in WORDS.split())
    ]
    assert len(set(words_seen_at)) >= 4, "the words arrived in one piece"
