"""A request the gateway serves with several upstream calls (a web search loop it runs
itself, a paused Anthropic turn it continues, `n` choices as parallel calls) that fails
after some of those calls were answered: its usage row keeps what the answered calls used
(the upstream bills them all the same), JSON and streamed. Official SDKs → a real gateway
→ an upstream that serves exact bytes (exact_upstream)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.exact_upstream import (
    Answer,
    Metered,
    json_answer,
    metered,
    sse,
    stream_answer,
)

SEARCH, PAUSED = "rounds-chat", "rounds-messages"
"""The gateway's models: an OpenAI Chat upstream (the gateway runs web search) and an
Anthropic one (whose paused turns the gateway continues for a Chat client)."""

_ERROR = {"error": {"message": "the model fell over", "type": "server_error"}}
_ANTHROPIC_ERROR = {"type": "error", "error": {"type": "api_error", "message": "fell over"}}

_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "web_search", "arguments": '{"query": "cats"}'},
}
_CHAT_USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
SEARCH_CALL_JSON = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            "finish_reason": "tool_calls",
        }
    ],
    "usage": _CHAT_USAGE,
}
_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
SEARCH_CALL_STREAM = (
    sse(
        {
            **_CHUNK,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "tool_calls": [{"index": 0, **_CALL}]},
                    "finish_reason": None,
                }
            ],
        }
    )
    + sse({**_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    + sse({**_CHUNK, "choices": [], "usage": _CHAT_USAGE})
    + b"data: [DONE]\n\n"
)

_ANTHROPIC_USAGE = {"input_tokens": 100, "output_tokens": 10}
PAUSED_JSON = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "Searching"}],
    "stop_reason": "pause_turn",
    "stop_sequence": None,
    "usage": _ANTHROPIC_USAGE,
}
_START = {**PAUSED_JSON, "content": [], "stop_reason": None}
_TEXT = {"type": "text", "text": ""}
PAUSED_STREAM = b"".join(
    sse({"type": kind, **members}, kind)
    for kind, members in [
        (
            "message_start",
            {"message": {**_START, "usage": {"input_tokens": 100, "output_tokens": 1}}},
        ),
        ("content_block_start", {"index": 0, "content_block": _TEXT}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Searching"}}),
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "pause_turn"}, "usage": {"output_tokens": 10}}),
        ("message_stop", {}),
    ]
)
CONTINUATION_CUT = (
    sse(  # the continued call starts (its prompt billed), then is cut short
        {
            "type": "message_start",
            "message": {**_START, "usage": {"input_tokens": 200, "output_tokens": 1}},
        },
        "message_start",
    )
    + b'event: content_block_start\ndata: {"type":"content_bl'
)
ANSWER_JSON = {
    **PAUSED_JSON,
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 7, "output_tokens": 3},
}


class _Calls:
    """Counts the parallel calls of the `n` test (the upstream's threads answer at once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def next(self) -> int:
        with self.lock:
            self.count += 1
            return self.count


_calls = _Calls()

_held = threading.Event()
"""Set once a later call of a prompt asking to hold came; it answers (a 500) when the test
sets `_release`, or after a while."""
_release = threading.Event()


def _hold() -> Answer:
    _held.set()
    _release.wait(10)
    return json_answer(_ERROR, 500)


def answering(path: str, body: bytes) -> Answer:
    """A first round answered (a search call, a paused turn), every later round a 500 (or,
    for a prompt asking to cut, a continuation that breaks off; for one asking to hold,
    a call that answers only when released); the `n` tests' calls alternate between an
    answer and a 500 (or a held call)."""
    request: dict[str, Any] = json.loads(body)
    last = request["messages"][-1]
    streamed = bool(request.get("stream"))
    first = json.dumps(request["messages"][0]["content"])
    if last["role"] in ("tool", "assistant") and "hold" in first:
        return _hold()
    if path.endswith("/chat/completions"):
        if last["role"] == "tool":  # the round after the search
            return json_answer(_ERROR, 500)
        return stream_answer(SEARCH_CALL_STREAM) if streamed else json_answer(SEARCH_CALL_JSON)
    if "parallel" in json.dumps(last["content"]):
        if _calls.next() % 2:
            return json_answer(ANSWER_JSON)
        return _hold() if "hold" in first else json_answer(_ANTHROPIC_ERROR, 500)
    if last["role"] == "assistant":  # the paused turn, continued
        if "cut" in first:
            return stream_answer(CONTINUATION_CUT)
        return json_answer(_ANTHROPIC_ERROR, 500)
    return stream_answer(PAUSED_STREAM) if streamed else json_answer(PAUSED_JSON)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    models = {SEARCH: "provider: chat, model: up", PAUSED: "provider: messages, model: up"}
    yield from metered(
        answering,
        tmp_path_factory.mktemp("failed-rounds"),
        {"chat": "openai", "messages": "anthropic"},
        models,
    )


def row(gateway: Metered, key: tuple[str, str]) -> tuple[int, int, int, int]:
    """(input tokens, output tokens, web searches, status) of the key's one row."""
    gateway.recorded(key)  # waits for it
    with sqlite3.connect(Path(gateway.db)) as conn:
        [found] = conn.execute(
            "SELECT input_tokens, output_tokens, web_search_requests, status FROM usage"
            " WHERE key_id = ?",
            (key[0],),
        ).fetchall()
    return found


def ask(gateway: Metered, secret: str, model: str, stream: bool, **extra: Any) -> None:
    """A Chat call that fails: a 500 before the stream's headers, or in-band after them."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0)
    messages: Any = [{"role": "user", "content": extra.pop("text", "find cats")}]
    with pytest.raises(openai.APIError):
        if stream:
            list(
                client.chat.completions.create(model=model, messages=messages, stream=True, **extra)
            )
        else:
            client.chat.completions.create(model=model, messages=messages, **extra)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_failed_search_round_keeps_the_rounds_before(gateway: Metered, stream: bool) -> None:
    key = gateway.new_key()
    ask(gateway, key[1], SEARCH, stream, extra_body={"web_search_options": {}})
    assert row(gateway, key) == (100, 10, 1, 500)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_failed_continuation_keeps_the_paused_call(gateway: Metered, stream: bool) -> None:
    key = gateway.new_key()
    ask(gateway, key[1], PAUSED, stream, extra_body={"web_search_options": {}})
    assert row(gateway, key) == (100, 10, 0, 500)


def test_a_continuation_cut_short_keeps_what_both_calls_reported(gateway: Metered) -> None:
    """The continued call's stream reports its prompt and breaks off: the row has the
    paused call's usage and the continued call's prompt (its message_start)."""
    key = gateway.new_key()
    ask(gateway, key[1], PAUSED, True, text="cut it", extra_body={"web_search_options": {}})
    assert row(gateway, key) == (300, 11, 0, 502)


def test_a_failed_choice_keeps_the_answered_one(gateway: Metered) -> None:
    """n=2 on Anthropic: two calls, one answered and one refused; the client gets the 500."""
    key = gateway.new_key()
    ask(gateway, key[1], PAUSED, False, n=2, text="parallel please")
    assert row(gateway, key) == (7, 3, 0, 500)


CANCELLED = {
    # a later call held: (model, prompt, more of the body, the row's tokens and searches)
    "search": (SEARCH, "find cats, and hold", {"web_search_options": {}}, (100, 10, 1)),
    "paused": (PAUSED, "find cats, and hold", {"web_search_options": {}}, (100, 10, 0)),
    "n": (PAUSED, "parallel please, and hold", {"n": 2}, (7, 3, 0)),
}


@pytest.mark.parametrize("case", list(CANCELLED))
def test_a_run_cancelled_during_a_later_call_keeps_the_calls_answered(
    gateway: Metered, case: str
) -> None:
    """An async task, cancelled while one of its calls is under way (a search loop's
    second round, a paused turn's continuation, the second of two choices): the row has
    the answered calls' usage (and the search run), status 499."""
    model, text, extra, used = CANCELLED[case]
    key = gateway.new_key()
    headers = {"authorization": f"Bearer {key[1]}"}
    messages = [{"role": "user", "content": text}]
    body = {"model": model, "async": True, "messages": messages, **extra}
    _held.clear()
    _release.clear()
    try:
        submitted = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
        assert submitted.status_code == 202, submitted.text
        assert _held.wait(10), "the held call never came"
        cancel = f"{gateway.url}/v1/tasks/{submitted.json()['id']}/cancel"
        cancelled = httpx.post(cancel, headers=headers)
        assert cancelled.json()["status"] == "cancelled", cancelled.text
        assert row(gateway, key) == (*used, 499)
    finally:
        _release.set()
