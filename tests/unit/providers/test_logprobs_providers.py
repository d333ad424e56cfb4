"""Token logprobs on the upstream side: each provider asks for them in its protocol's words
when ChatRequest.logprobs is set, and reads them onto the text (TextPart.logprobs, a
TextDelta's own tokens); folding a stream gives what the unary body gives. Anthropic has
none: its request says so in a warning."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.builders import route

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatRequest,
    Message,
    Role,
    StreamAccumulator,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenAlternative,
    TokenLogprob,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.providers.gemini.logprobs import split_by_text
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.providers.openai_responses import OpenAIResponsesProvider
from polyrelay.settings_types import ProviderType

CHAT, RESPONSES, GEMINI = OpenAIChatProvider(), OpenAIResponsesProvider(), GeminiProvider()
ANTHROPIC = AnthropicProvider()
UPSTREAM_MODEL = {"openai": "gpt-4o", "openai-responses": "gpt-4.1", "gemini": "gemini-2.5-flash"}
HEL = TokenLogprob(
    token="Hel",
    logprob=-0.25,
    bytes=(72, 101, 108),
    top=(TokenAlternative(token="Hel", logprob=-0.25, bytes=(72, 101, 108)),),
)


def request(logprobs: int | None, stream: bool = False) -> ChatRequest:
    message = Message(role=Role.USER, parts=(TextPart(text="hi"),))
    return ChatRequest(model="m", messages=(message,), logprobs=logprobs, stream=stream)


def sent(provider: Any, type_: ProviderType, logprobs: int | None) -> tuple[Any, RequestContext]:
    ctx = RequestContext("m")
    upstream = provider.build_request(
        request(logprobs), route(type_, upstream=UPSTREAM_MODEL.get(type_, "m")), ctx
    )
    return json.loads(upstream.body), ctx


def openai_entry(token: str, logprob: float, *, with_bytes: bool = True) -> dict[str, Any]:
    top: dict[str, Any] = {"token": token, "logprob": logprob}
    entry: dict[str, Any] = {"token": token, "logprob": logprob, "top_logprobs": [top]}
    if with_bytes:
        entry["bytes"] = top["bytes"] = list(token.encode())
    return entry


def parse(provider: Any, type_: ProviderType, body: Any) -> tuple[TextPart, ...]:
    response = UpstreamResponse(status=200, headers={}, body=encode(body))
    reply = provider.parse_response(response, route(type_), RequestContext("m"))
    return tuple(p for p in reply.parts if isinstance(p, TextPart))


def streamed(parser: Any, frames: list[Any], named: bool = False) -> list[StreamEvent]:
    data = b""
    for frame in frames:
        name = f"event: {frame['type']}\n".encode() if named else b""
        data += name + b"data: " + encode(frame) + b"\n\n"
    return [*parser.feed(data), *parser.finish()]


def folded(events: list[StreamEvent]) -> tuple[TextPart, ...]:
    accumulator = StreamAccumulator()
    for event in events:
        accumulator.feed(event)
    return tuple(p for p in accumulator.result().parts if isinstance(p, TextPart))


@pytest.mark.parametrize(("asked", "top"), [(None, None), (0, None), (3, 3)])
def test_chat_upstream_is_asked(asked: int | None, top: int | None) -> None:
    body, _ = sent(CHAT, "openai", asked)
    assert (body.get("logprobs"), body.get("top_logprobs")) == (
        None if asked is None else True,
        top,
    )


def test_chat_upstream_logprobs_go_on_content_and_refusal() -> None:
    message = {"role": "assistant", "content": "Hel", "refusal": "No"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    choice["logprobs"] = {
        "content": [openai_entry("Hel", -0.25)],
        "refusal": [openai_entry("No", -1)],
    }
    text, refusal = parse(CHAT, "openai", {"id": "c", "model": "m", "choices": [choice]})
    assert text.logprobs == (HEL,)
    assert refusal.refusal and refusal.logprobs and refusal.logprobs[0].token == "No"
    (plain,) = parse(
        CHAT,
        "openai",
        {"id": "c", "choices": [{**choice, "logprobs": None, "message": {"content": "x"}}]},
    )
    assert plain.logprobs is None


def chat_chunk(text: str, logprobs: Any = None, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": finish}
    return {"id": "c", "model": "m", "choices": [choice]}


def test_chat_upstream_stream_gives_each_delta_its_tokens_after_plain_chunks() -> None:
    """Plain chunks teach the parser their shape (text_shape.py); a chunk with tokens
    must not be read by it."""
    plain = [chat_chunk(w) for w in ("a", "b", "c", "d")]
    scored = [
        chat_chunk("Hel", {"content": [openai_entry("Hel", -0.25)], "refusal": None}),
        chat_chunk("lo", {"content": [openai_entry("lo", -0.5)], "refusal": None}),
    ]
    events = streamed(
        CHAT.stream_parser(route("openai"), RequestContext("m")),
        [*plain, *scored, chat_chunk("", None, "stop")],
    )
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert [d.logprobs for d in deltas[:4]] == [None] * 4
    assert [d.logprobs and d.logprobs[0].token for d in deltas[4:]] == ["Hel", "lo"]
    assert deltas[4].logprobs == (HEL,)
    (text,) = folded(events)
    assert text.text == "abcdHello" and [t.token for t in text.logprobs or ()] == ["Hel", "lo"]


@pytest.mark.parametrize(("asked", "top"), [(None, None), (0, None), (2, 2)])
def test_responses_upstream_is_asked(asked: int | None, top: int | None) -> None:
    body, ctx = sent(RESPONSES, "openai-responses", asked)
    scored = "message.output_text.logprobs" in (body.get("include") or ())
    assert (scored, body.get("top_logprobs"), ctx.logprobs_asked) == (
        asked is not None,
        top,
        asked is not None,
    )


def responses_body(logprobs: list[Any]) -> dict[str, Any]:
    text = {"type": "output_text", "text": "Hel", "annotations": [], "logprobs": logprobs}
    item = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [text],
    }
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1",
        "status": "completed",
        "output": [item],
    }


def test_responses_upstream_output_text_logprobs() -> None:
    (text,) = parse(RESPONSES, "openai-responses", responses_body([openai_entry("Hel", -0.25)]))
    assert text.logprobs == (HEL,)
    (unasked,) = parse(RESPONSES, "openai-responses", responses_body([]))
    assert unasked.logprobs is None


def responses_stream(logprobs: list[Any]) -> list[dict[str, Any]]:
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    item = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    body = responses_body(logprobs)
    return [
        {"type": "response.created", "response": {**body, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": ""},
        },
        {"type": "response.output_text.delta", **where, "delta": "Hel", "logprobs": logprobs},
        {"type": "response.content_part.done", **where},
        {"type": "response.output_item.done", "output_index": 0, "item": body["output"][0]},
        {"type": "response.completed", "response": body},
    ]


@pytest.mark.parametrize("asked", [True, False])
def test_responses_upstream_stream_reads_delta_tokens_when_it_asked(asked: bool) -> None:
    ctx = RequestContext("m")
    ctx.logprobs_asked = asked
    frames = responses_stream([openai_entry("Hel", -0.25, with_bytes=False)])
    events = streamed(RESPONSES.stream_parser(route("openai-responses"), ctx), frames, named=True)
    (delta,) = [e for e in events if isinstance(e, TextDelta)]
    if not asked:  # the hot event's small decode: what it was not asked for, it skips
        assert delta.logprobs is None
        return
    assert delta.logprobs == (
        TokenLogprob(
            token="Hel", logprob=-0.25, top=(TokenAlternative(token="Hel", logprob=-0.25),)
        ),
    )
    assert folded(events)[0].logprobs == delta.logprobs


@pytest.mark.parametrize(
    ("asked", "config"),
    [(None, {}), (0, {"responseLogprobs": True}), (4, {"responseLogprobs": True, "logprobs": 4})],
)
def test_gemini_upstream_is_asked(asked: int | None, config: dict[str, Any]) -> None:
    body, _ = sent(GEMINI, "gemini", asked)
    got = body.get("generationConfig", {})
    assert {k: got[k] for k in ("responseLogprobs", "logprobs") if k in got} == config


def gemini_candidate(
    texts: list[str], tokens: list[str], finish: str | None = "STOP"
) -> dict[str, Any]:
    chosen = [{"token": t, "tokenId": 7, "logProbability": -0.25} for t in tokens]
    tops = [{"candidates": [c, {"token": "alt", "logProbability": -2.0}]} for c in chosen]
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": t} for t in texts]}
    }
    candidate["logprobsResult"] = {"chosenCandidates": chosen, "topCandidates": tops}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "g1"}


def test_gemini_upstream_logprobs_result_goes_on_the_text() -> None:
    (text,) = parse(GEMINI, "gemini", gemini_candidate(["Hel", "lo"], ["Hel", "lo"]))
    assert text.text == "Hello" and text.logprobs is not None
    assert [(t.token, t.logprob, t.bytes) for t in text.logprobs] == [
        ("Hel", -0.25, None),
        ("lo", -0.25, None),
    ]
    assert [a.token for a in text.logprobs[0].top] == ["Hel", "alt"]


def test_gemini_upstream_stream_chunks_carry_their_own_tokens() -> None:
    chunks = [gemini_candidate(["Hel"], ["Hel"], None), gemini_candidate(["lo"], ["lo"])]
    ctx = RequestContext("m")
    events = streamed(
        GEMINI.stream_parser(route("gemini", upstream="gemini-2.5-flash"), ctx), chunks
    )
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert [[t.token for t in d.logprobs or ()] for d in deltas] == [["Hel"], ["lo"]]
    unary = parse(GEMINI, "gemini", gemini_candidate(["Hel", "lo"], ["Hel", "lo"]))
    assert folded(events) == unary


def test_gemini_tokens_are_dealt_to_text_parts_by_length() -> None:
    tokens = tuple(TokenLogprob(token=t, logprob=0.0) for t in ("ab", "c", "de", "f"))
    assert split_by_text(tokens, ["abc", "def"]) == [tokens[:2], tokens[2:]]
    assert split_by_text(tokens, ["abcdef"]) == [tokens]
    assert split_by_text((), ["x", ""]) == [(), ()]


def test_anthropic_upstream_warns_that_it_has_none() -> None:
    body, ctx = sent(ANTHROPIC, "anthropic", 2)
    assert "logprobs" not in json.dumps(body)
    assert "Anthropic does not return token logprobs; logprobs dropped" in list(ctx.warnings)
    _, quiet = sent(ANTHROPIC, "anthropic", None)
    assert not any("logprobs" in warning for warning in quiet.warnings)
