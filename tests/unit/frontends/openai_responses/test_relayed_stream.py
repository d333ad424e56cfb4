"""RelayedStream: a relayed Responses stream that breaks off is ended by one
`response.failed` continuing it (its id, the next sequence number, the output so far),
however the relayed bytes were cut, and with its chunks folded in past the size bound."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import ResponseFailedEvent

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend, relayed
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.frontends.openai_responses.relayed import RelayedStream
from polyrelay.ir import ChatRequest


def frame(seq: int, kind: str, **payload: Any) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": seq, **payload})
    return f"event: {kind}\ndata: {data}\n\n".encode()


SHELL = {
    "id": "resp_up",
    "object": "response",
    "created_at": 1,
    "status": "in_progress",
    "model": "upstream-model",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "store": False,
}
MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
CALL = {
    "id": "fc_1",
    "type": "function_call",
    "status": "in_progress",
    "call_id": "call_1",
    "name": "f",
    "arguments": "",
}
TEXT = {"type": "output_text", "text": "", "annotations": []}
HEAD = frame(0, "response.created", response=SHELL) + frame(
    1, "response.in_progress", response=SHELL
)
BODY = (
    frame(2, "response.output_item.added", output_index=0, item={**CALL})
    + frame(3, "response.function_call_arguments.delta", output_index=0, delta='{"a"', item_id="")
    + frame(4, "response.function_call_arguments.delta", output_index=0, delta=":1}", item_id="")
    + frame(5, "response.output_item.done", output_index=0, item={**CALL, "arguments": '{"a":1}'})
    + frame(6, "response.output_item.added", output_index=1, item={**MESSAGE, "content": []})
    + frame(7, "response.content_part.added", output_index=1, content_index=0, part=TEXT)
    + frame(8, "response.output_text.delta", output_index=1, content_index=0, delta="Hello")
    + frame(9, "response.output_text.delta", output_index=1, content_index=0, delta=" wor")
)


def echo(response: dict[str, Any]) -> None:
    response["model"] = "public"


def fail(chunks: list[bytes]) -> dict[str, Any]:
    stream = RelayedStream()
    for chunk in chunks:
        stream.add(chunk)
    frame = stream.failed_frame("server_error", "cut", echo)
    assert frame is not None and frame.startswith(b"event: response.failed\ndata: ")
    assert frame.endswith(b"\n\n")
    event: dict[str, Any] = json.loads(frame.split(b"data: ", 1)[1])
    ResponseFailedEvent.model_validate(event)
    return event


def test_the_failure_continues_the_relayed_response() -> None:
    event = fail([HEAD + BODY])
    assert event["sequence_number"] == 10
    response = event["response"]
    assert response["id"] == "resp_up" and response["model"] == "public"
    assert response["status"] == "failed"
    assert response["error"] == {"code": "server_error", "message": "cut"}
    call, message = response["output"]
    assert call["arguments"] == '{"a":1}' and call["status"] == "in_progress"
    assert message["id"] == "msg_1"
    assert message["content"] == [{**TEXT, "text": "Hello wor"}]


def test_any_cut_of_the_bytes_gives_the_same_failure() -> None:
    data = HEAD + BODY
    whole = fail([data])
    for at in range(1, len(data), 7):
        assert fail([data[:at], data[at:]]) == whole


def test_a_frame_cut_short_counts_when_the_client_can_read_it() -> None:
    # The relay ends a partial frame with a blank line: whole data is an event to the client.
    last = frame(10, "response.output_text.delta", output_index=1, content_index=0, delta="ld")
    assert fail([HEAD + BODY + last[:-1]])["sequence_number"] == 11
    assert fail([HEAD + BODY + last[:-9]])["sequence_number"] == 10


def test_a_long_stream_is_folded_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relayed, "_FOLD_BYTES", 64)
    stream = RelayedStream()
    data = HEAD + BODY
    for at in range(0, len(data), 50):
        stream.add(data[at : at + 50])
        assert stream._held <= 64 + 50
    frame = stream.failed_frame("server_error", "cut", echo)
    assert frame is not None
    assert json.loads(frame.split(b"data: ", 1)[1]) == fail([data])


def test_an_ended_stream_gets_nothing_more_and_an_unstarted_one_is_left_to_the_caller() -> None:
    ended = RelayedStream()
    ended.add(HEAD + frame(2, "response.completed", response={**SHELL, "status": "completed"}))
    assert ended.failed_frame("server_error", "cut", echo) == b""
    unstarted = RelayedStream()
    unstarted.add(b"event: response.created\ndata: {")
    assert unstarted.failed_frame("server_error", "cut", echo) is None


def test_the_renderer_of_a_relayed_stream_fails_it_in_place() -> None:
    frontend = OpenAIResponsesFrontend()
    ctx = RequestContext(model="public")
    ctx.frontend_state = ResponsesOptions(store=False)
    renderer = frontend.stream_renderer(ChatRequest(model="public", messages=()), ctx)
    observer = frontend.passthrough_observer(ctx)
    observer.feed(HEAD + BODY)
    (frame,) = renderer.fail(UpstreamError("the upstream closed the connection", status=502))
    event = json.loads(frame.split(b"data: ", 1)[1])
    assert event["sequence_number"] == 10 and event["response"]["id"] == "resp_up"
    assert event["response"]["model"] == "public" and event["response"]["store"] is False
    assert renderer.fail(UpstreamError("again", status=502)) == []
    # Nothing relayed yet: the renderer's own lifecycle, created to failed.
    ctx.frontend_state = ResponsesOptions(store=False)
    renderer = frontend.stream_renderer(ChatRequest(model="public", messages=()), ctx)
    frontend.passthrough_observer(ctx)
    kinds = [f.split(b"\n", 1)[0] for f in renderer.fail(UpstreamError("refused", status=502))]
    assert kinds == [
        b"event: response.created",
        b"event: response.in_progress",
        b"event: response.failed",
    ]


def test_a_relayed_stream_is_freed_without_a_garbage_collection() -> None:
    """The request's options hold the RelayedStream; a callback kept in it that refers to
    the options made a cycle, so every relayed stream's chunks lived until the cyclic
    collector ran (10 % more CPU on the relayed Responses stream)."""
    import gc
    import weakref

    frontend = OpenAIResponsesFrontend()
    gc.disable()
    try:
        ctx = RequestContext(key_id="k")
        frontend.decode(b'{"model":"m","input":"hi","stream":true}', ctx)
        observer = frontend.passthrough_observer(ctx)
        observer.feed(frame(0, "response.created", response=SHELL))
        assert isinstance(ctx.frontend_state, ResponsesOptions)
        assert ctx.frontend_state.relayed is not None
        watched = weakref.ref(ctx.frontend_state.relayed)
        del observer, ctx
        assert watched() is None
    finally:
        gc.enable()
