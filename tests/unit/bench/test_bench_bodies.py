"""The benchmark's fixed upstream bodies parse with the official SDKs' own types."""

from __future__ import annotations

import json

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from bench import bodies
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter


def _events(text: str) -> list[tuple[str | None, str]]:
    frames = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        name = None
        data = []
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        frames.append((name, "\n".join(data)))
    return frames


def test_chat_completion_parses() -> None:
    completion = ChatCompletion.model_validate_json(bodies.upstream_body("openai", False))
    assert completion.choices[0].message.content == bodies.REPLY_TEXT
    assert completion.choices[0].finish_reason == "stop"


def test_chat_stream_parses_chunk_by_chunk_and_ends_with_done() -> None:
    frames = _events(bodies.upstream_body("openai", True))
    assert frames[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate_json(data) for _, data in frames[:-1]]
    assert len(chunks) >= 21
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == bodies.REPLY_TEXT
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_anthropic_message_parses() -> None:
    message = Message.model_validate_json(bodies.upstream_body("anthropic", False))
    assert message.content[0].type == "text"
    assert message.content[0].text == bodies.REPLY_TEXT
    assert message.stop_reason == "end_turn"


def test_anthropic_stream_events_parse_and_name_their_type() -> None:
    adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    frames = _events(bodies.upstream_body("anthropic", True))
    text = []
    events = []
    for name, data in frames:
        assert name == json.loads(data)["type"]
        if name == "ping":
            continue
        event = adapter.validate_json(data)
        events.append(event)
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            text.append(event.delta.text)
    assert len(text) >= 21
    assert "".join(text) == bodies.REPLY_TEXT
    assert events[0].type == "message_start"
    assert events[-1].type == "message_stop"


def test_response_parses() -> None:
    response = Response.model_validate_json(bodies.upstream_body("openai-responses", False))
    assert response.output_text == bodies.REPLY_TEXT
    assert response.status == "completed"


def test_responses_stream_events_parse_in_order() -> None:
    adapter: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
    frames = _events(bodies.upstream_body("openai-responses", True))
    events = [adapter.validate_json(data) for _, data in frames]
    assert [name for name, _ in frames] == [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 21
    assert "".join(deltas) == bodies.REPLY_TEXT
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == bodies.REPLY_TEXT


@pytest.mark.parametrize(
    ("upstream", "client"),
    [("openai", "chat"), ("anthropic", "messages"), ("openai-responses", "responses")],
)
@pytest.mark.parametrize("stream", [False, True])
def test_the_benchmark_checker_accepts_the_upstream_bodies(
    upstream: str, client: str, stream: bool
) -> None:
    body = bodies.upstream_body(upstream, stream)
    assert bodies.check_response(client, stream, 200, body) is None
    assert all(marker in body for marker in bodies.markers(client, stream))


@pytest.mark.parametrize("client", ["chat", "messages", "responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_the_checker_rejects_errors_and_cut_streams(client: str, stream: bool) -> None:
    upstream = {"chat": "openai", "messages": "anthropic", "responses": "openai-responses"}[client]
    body = bodies.upstream_body(upstream, stream)
    assert bodies.check_response(client, stream, 500, body) is not None
    assert bodies.check_response(client, stream, 200, body[: len(body) // 2]) is not None
    assert bodies.check_response(client, stream, 200, '{"error": {"message": "x"}}') is not None


def test_bodies_hold_no_nginx_variables() -> None:
    for upstream in bodies.UPSTREAM_PROTOCOLS:
        for stream in (False, True):
            assert "$" not in bodies.upstream_body(upstream, stream)


def test_the_no_store_path_asks_for_no_stored_response() -> None:
    from bench.run import PATHS

    path = "responses→openai" + bodies.UNSTORED
    assert PATHS[path] == PATHS["responses→openai"]
    unstored = json.loads(bodies.path_request(path, "responses", "m", True))
    stored = json.loads(bodies.path_request("responses→openai", "responses", "m", True))
    assert unstored == {**stored, "store": False} and "store" not in stored
