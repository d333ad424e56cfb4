"""A stream's request log line is written once, when the stream ends: with the status its
usage row records (200, 499 for a client gone mid-stream, an in-band error's), its whole
duration and its first byte's, and the warnings its parser gave after the head went out
(too late for the polyrelay-warnings header). It was written as the head went out: 200,
and none of those warnings. Real gateway → an Anthropic upstream serving exact bytes,
whose PAUSEs put the later events past the head."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client

from tests.integration.exact_upstream import PAUSE, Answer, Metered, metered, sse, stream_answer

MODEL = "lg-messages"
UNKNOWN_SKIPPED = "an Anthropic content block of an unknown type was skipped"

_START = sse(
    {"type": "message_start",
     "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "up",
                 "content": [], "stop_reason": None,
                 "usage": {"input_tokens": 11, "output_tokens": 1}}},
    "message_start",
)  # fmt: skip
_TEXT = sse(
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    "content_block_start",
) + sse(
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    "content_block_delta",
)
_UNKNOWN_BLOCK = sse(
    {"type": "content_block_start", "index": 1, "content_block": {"type": "hologram"}},
    "content_block_start",
) + sse({"type": "content_block_stop", "index": 1}, "content_block_stop")
_END = (
    sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    + sse(
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 2}},
        "message_delta",
    )
    + sse({"type": "message_stop"}, "message_stop")
)  # fmt: skip
_OVERLOADED = sse(
    {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, "error"
)

_SCENARIOS = {
    "whole": _START + _TEXT + PAUSE + _END,
    "unknown": _START + _TEXT + PAUSE + _UNKNOWN_BLOCK + _END,
    "failed": _START + _TEXT + PAUSE + _OVERLOADED,
    "long": _START + _TEXT + PAUSE * 5 + _END,
    "silent": PAUSE * 5 + _START + _TEXT + _END,
}
"""By the SCEN marker of the prompt; each but `silent` sends content before its first
PAUSE, so its head goes out before what follows."""


def _answering(path: str, body: bytes) -> Answer:
    found = re.search(rb"SCEN:(\w+)", body)
    assert found is not None and path.endswith("/messages")
    return stream_answer(_SCENARIOS[found.group(1).decode()])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    models = {MODEL: "provider: messages, model: up, max_output_tokens: 1000"}
    yield from metered(
        _answering, tmp_path_factory.mktemp("log-line"), {"messages": "anthropic"}, models
    )


_PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}
"""A translated stream (an OpenAI Chat client) and the same-protocol fast path."""


def _request(served: Metered, key: tuple[str, str], client: str, scenario: str) -> Any:
    body = {"model": MODEL, "stream": True, "max_tokens": 50,
            "messages": [{"role": "user", "content": f"hi SCEN:{scenario}"}]}  # fmt: skip
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    return {"url": served.url + _PATHS[client], "json": body, "headers": headers, "timeout": 30}


def _logged(served: Metered, seen: int, prefix: str) -> str:
    """The one line of the request (after `seen` characters of the log), once it is in."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in served.log.read_text()[seen:].splitlines() if prefix in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(lines) == 1, lines
    return lines[0]


def _durations(line: str) -> tuple[float, float]:
    """The whole duration and the first byte's, in ms."""
    found = re.search(r" ([\d.]+)ms \(first byte ([\d.]+)ms\)", line)
    assert found is not None, line
    return float(found.group(1)), float(found.group(2))


def test_a_completed_stream_is_logged_at_its_end(served: Metered) -> None:
    key, seen = served.new_key(), len(served.log.read_text())
    response = httpx.post(**_request(served, key, "chat", "whole"))
    assert response.status_code == 200 and "Hel" in response.text
    assert served.recorded(key)[2] == 200
    line = _logged(served, seen, f"POST /v1/chat/completions model={MODEL} ")
    assert " status=200 " in line, line
    total, first_byte = _durations(line)
    assert total >= 200 > first_byte, line  # the upstream paused 200 ms after the head


def test_a_warning_given_after_the_head_is_in_the_line(served: Metered) -> None:
    """The parser skipped an unknown block after the first frames went out: too late for
    the header, not for the log."""
    key, seen = served.new_key(), len(served.log.read_text())
    response = httpx.post(**_request(served, key, "chat", "unknown"))
    assert response.status_code == 200 and "Hel" in response.text
    assert UNKNOWN_SKIPPED not in response.headers.get("polyrelay-warnings", "")
    assert served.recorded(key)[2] == 200
    line = _logged(served, seen, f"POST /v1/chat/completions model={MODEL} ")
    assert " status=200 " in line and UNKNOWN_SKIPPED in line, line


@pytest.mark.parametrize("client", list(_PATHS))
def test_a_stream_left_by_its_client_is_logged_as_closed(served: Metered, client: str) -> None:
    key, seen = served.new_key(), len(served.log.read_text())
    with httpx.stream("POST", **_request(served, key, client, "long")) as streamed:
        assert streamed.status_code == 200
        next(streamed.iter_bytes())  # the head and the first frames; then the client leaves
    assert served.recorded(key)[2] == 499
    line = _logged(served, seen, f"POST {_PATHS[client]} model={MODEL} ")
    assert " status=499 " in line, line


@pytest.mark.parametrize("client", list(_PATHS))
def test_a_stream_failed_mid_way_is_logged_as_its_row_says(served: Metered, client: str) -> None:
    """Anthropic's overloaded_error after content: in-band to the client, 529 in the row."""
    key, seen = served.new_key(), len(served.log.read_text())
    response = httpx.post(**_request(served, key, client, "failed"))
    assert response.status_code == 200 and "busy" in response.text
    assert served.recorded(key)[2] == 529
    line = _logged(served, seen, f"POST {_PATHS[client]} model={MODEL} ")
    assert " status=529 " in line, line


def test_a_websocket_turn_failed_mid_way_is_logged_as_its_row_says(served: Metered) -> None:
    key, seen = served.new_key(), len(served.log.read_text())
    url = served.url.replace("http", "ws") + "/v1/responses"
    turn = {"type": "response.create", "model": MODEL, "store": False, "input": "hi SCEN:failed"}
    with ws_client.connect(url, additional_headers={"authorization": f"Bearer {key[1]}"}) as ws:
        ws.send(json.dumps(turn))
        event = {"type": ""}
        while event["type"] not in ("error", "response.failed"):  # the turn's end
            event = json.loads(ws.recv(timeout=10))
    assert served.recorded(key)[2] == 529
    line = _logged(served, seen, f"WS /v1/responses model={MODEL} ")
    assert " status=529 " in line, (line, event)


@pytest.mark.parametrize("client", list(_PATHS))
def test_a_client_gone_before_the_first_byte_is_logged_once_as_closed(
    served: Metered, client: str
) -> None:
    """The upstream is silent for a second; the client gives up after 0.3 s, before any byte
    of the answer (no head went out): one line, 499, without a first byte."""
    key, seen = served.new_key(), len(served.log.read_text())
    request = _request(served, key, client, "silent") | {"timeout": 0.3}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(**request)
    line = _logged(served, seen, f"POST {_PATHS[client]} model={MODEL} ")
    assert " status=499 " in line and "first byte" not in line, line
    time.sleep(1.2)  # the upstream's whole answer: still that one line, as the row says
    assert served.recorded(key)[2] == 499
    _logged(served, seen, f"POST {_PATHS[client]} model={MODEL} ")
