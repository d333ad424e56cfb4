"""Token logprobs on the client side: the OpenAI frontends read the ask into
ChatRequest.logprobs (checked as OpenAI checks it) and write the IR's tokens in exactly
the shapes openai-python types (ChatCompletion, ChatCompletionChunk, Response and its
text events), only when there are some."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseTextDeltaEvent, ResponseTextDoneEvent
from tests.unit.builders import openai_sse_client

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend, ResponsesOptions
from polyrelay.frontends.openai_responses.options import LOGPROBS_INCLUDE
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    Role,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenAlternative,
    TokenLogprob,
)

CHAT = OpenAIChatFrontend()
RESPONSES = OpenAIResponsesFrontend()
HI = [{"role": "user", "content": "hi"}]


def token(text: str, logprob: float = -0.5) -> TokenLogprob:
    top = (TokenAlternative(token=text, logprob=logprob), TokenAlternative(token="x", logprob=-3))
    return TokenLogprob(token=text, logprob=logprob, top=top)


def request(logprobs: int | None) -> ChatRequest:
    message = Message(role=Role.USER, parts=(TextPart(text="hi"),))
    return ChatRequest(model="m", messages=(message,), stream=True, logprobs=logprobs)


def events(scored: bool) -> list[StreamEvent]:
    """Two text deltas (with their tokens when `scored`)."""
    first = (token("Hel"), token("lo")) if scored else None
    second = (token(" world", 0.0),) if scored else None
    return [
        MessageStart(id="up", model="m"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Hello", logprobs=first),
        TextDelta(index=0, text=" world", logprobs=second),
        PartStop(index=0),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]


def render(renderer: Any, stream: list[StreamEvent]) -> list[dict[str, Any]]:
    """The data of each frame, the text deltas fed as the pipeline feeds them (in runs)."""
    frames: list[bytes] = []
    for event in stream:
        if type(event) is TextDelta:
            frames += renderer.feed_texts([event])
        else:
            frames += renderer.feed(event)
    frames += renderer.finish()
    datas = [line[6:] for frame in frames for line in frame.split(b"\n")]
    return [json.loads(data) for data in datas if data.startswith(b"{")]


def chat_decode(**fields: Any) -> ChatRequest:
    return CHAT.decode(encode({"model": "m", "messages": HI, **fields}), RequestContext())


@pytest.mark.parametrize(
    ("fields", "asked"),
    [
        ({}, None),
        ({"logprobs": False}, None),
        ({"logprobs": True}, 0),
        ({"logprobs": True, "top_logprobs": 5}, 5),
    ],
)
def test_chat_decode_reads_the_ask(fields: dict[str, Any], asked: int | None) -> None:
    assert chat_decode(**fields).logprobs == asked


@pytest.mark.parametrize(
    ("fields", "param", "said"),
    [
        ({"logprobs": "yes"}, "logprobs", "expected a boolean"),
        ({"logprobs": True, "top_logprobs": "2"}, "top_logprobs", "expected an integer"),
        ({"logprobs": True, "top_logprobs": -1}, "top_logprobs", "less than the minimum of 0"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "greater than the maximum of 20"),
        ({"top_logprobs": 0}, "top_logprobs", "'logprobs' must be set to true"),
        ({"logprobs": False, "top_logprobs": 2}, "top_logprobs", "'logprobs' must be set to true"),
    ],
)
def test_chat_decode_refuses_what_openai_refuses(
    fields: dict[str, Any], param: str, said: str
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        chat_decode(**fields)
    assert raised.value.param == param and said in raised.value.message


def test_responses_decode_refuses_top_logprobs_above_20() -> None:
    body = {"model": "m", "input": "hi", "include": [LOGPROBS_INCLUDE], "top_logprobs": 21}
    with pytest.raises(InvalidRequestError) as raised:
        RESPONSES.decode_with_options(encode(body), RequestContext())
    assert raised.value.param == "top_logprobs"


def chat_response(*parts: TextPart) -> ChatCompletion:
    reply = ChatResponse(id="up", model="m", parts=parts, stop_reason=StopReason.END_TURN)
    return ChatCompletion.model_validate_json(CHAT.encode([reply], RequestContext(model="m")))


def test_chat_encode_writes_the_tokens_of_content_and_refusal() -> None:
    body = chat_response(
        TextPart(text="Hello", logprobs=(token("Hel"), token("lo"))),
        TextPart(text="No.", refusal=True, logprobs=(token("No."),)),
    )
    logprobs = body.choices[0].logprobs
    assert logprobs is not None and logprobs.content and logprobs.refusal
    assert [t.token for t in logprobs.content] == ["Hel", "lo"]
    assert logprobs.content[0].bytes == list(b"Hel")
    assert [(t.token, t.logprob) for t in logprobs.content[0].top_logprobs] == [
        ("Hel", -0.5),
        ("x", -3.0),
    ]
    assert [t.token for t in logprobs.refusal] == ["No."]


def test_chat_encode_writes_null_without_tokens() -> None:
    assert chat_response(TextPart(text="Hello")).choices[0].logprobs is None


def test_chat_stream_writes_each_chunk_s_tokens() -> None:
    ctx = RequestContext(model="m")
    chunks = render(CHAT.stream_renderer(request(2), ctx), events(scored=True))
    parsed = [ChatCompletionChunk.model_validate(chunk) for chunk in chunks]
    texts = [c.choices[0] for c in parsed if c.choices and c.choices[0].delta.content]
    assert [c.delta.content for c in texts] == ["Hello", " world"]
    tokens = [[t.token for t in c.logprobs.content or ()] for c in texts if c.logprobs]
    assert tokens == [["Hel", "lo"], [" world"]]
    assert texts[1].logprobs and texts[1].logprobs.content
    assert texts[1].logprobs.content[0].logprob == 0.0  # written, though it is the default
    others = [c["choices"][0] for c in chunks if not c["choices"][0]["delta"].get("content")]
    assert others and all(choice["logprobs"] is None for choice in others)


def test_chat_stream_without_the_ask_keeps_logprobs_null() -> None:
    chunks = render(CHAT.stream_renderer(request(None), RequestContext(model="m")), events(False))
    assert all(chunk["choices"][0]["logprobs"] is None for chunk in chunks)


def responses_options(scored: bool) -> ResponsesOptions:
    return ResponsesOptions(include=(LOGPROBS_INCLUDE,) if scored else (), store=False)


def test_responses_encode_writes_output_text_logprobs() -> None:
    part = TextPart(text="Hello", logprobs=(token("Hel"), token("lo")))
    reply = ChatResponse(id="up", model="m", parts=(part,), stop_reason=StopReason.END_TURN)
    ctx = RequestContext(model="m")
    body = Response.model_validate_json(RESPONSES.encode([reply], ctx, responses_options(True)))
    (text,) = body.output[0].content  # type: ignore[union-attr]
    assert text.type == "output_text" and text.logprobs
    assert [(t.token, t.bytes) for t in text.logprobs] == [
        ("Hel", list(b"Hel")),
        ("lo", [108, 111]),
    ]
    assert [t.token for t in text.logprobs[0].top_logprobs] == ["Hel", "x"]


@pytest.mark.parametrize("scored", [True, False])
def test_responses_stream_writes_the_tokens_of_each_delta_and_of_the_text(scored: bool) -> None:
    renderer = RESPONSES.stream_renderer(
        request(2), RequestContext(model="m"), responses_options(scored)
    )
    frames = render(renderer, events(scored))
    deltas = [
        ResponseTextDeltaEvent.model_validate(f)
        for f in frames
        if f["type"] == "response.output_text.delta"
    ]
    (done,) = [
        ResponseTextDoneEvent.model_validate(f)
        for f in frames
        if f["type"] == "response.output_text.done"
    ]
    (completed,) = [f for f in frames if f["type"] == "response.completed"]
    final = Response.model_validate(completed["response"])
    (text,) = final.output[0].content  # type: ignore[union-attr]
    if not scored:  # as before: `[]` everywhere
        assert all(d.logprobs == [] for d in deltas) and done.logprobs == [] == text.logprobs
        return
    assert [[t.token for t in d.logprobs] for d in deltas] == [["Hel", "lo"], [" world"]]
    assert all(
        "bytes" not in t for f in frames if f["type"].endswith("text.delta") for t in f["logprobs"]
    )
    assert [t.token for t in done.logprobs] == ["Hel", "lo", " world"]
    assert text.logprobs and [t.bytes for t in text.logprobs][2] == list(b" world")


def test_the_sdk_reads_the_chat_stream() -> None:
    """The openai SDK's own stream reader accepts the chunks (its accumulator included)."""
    renderer = CHAT.stream_renderer(request(2), RequestContext(model="m"))
    body = b"".join(
        frame for event in events(scored=True) for frame in renderer.feed(event)
    ) + b"".join(renderer.finish())
    client = openai_sse_client(body, "https://gw.test/v1")
    with client.chat.completions.stream(model="m", messages=HI, logprobs=True) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    logprobs = final.choices[0].logprobs
    assert logprobs is not None and [t.token for t in logprobs.content or ()] == [
        "Hel",
        "lo",
        " world",
    ]
