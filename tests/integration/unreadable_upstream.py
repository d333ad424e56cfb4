"""A fake upstream for tests/integration/test_unreadable_*.py: each request's prompt names
a scenario (`SCEN:<name>`), which picks the exact bytes it answers with, on the OpenAI Chat
Completions, Responses, Anthropic Messages and Gemini paths (exact_upstream).

`coded_<coding>` answers the 200 (JSON, or Chat's whole stream when it is asked for) with
a `content-encoding` the gateway never asked for: `deflate` as raw deflate data (no zlib
header, as many servers send it), `zdeflate` as `deflate` with its zlib header (what HTTP
means by it), `gzip`, and `br` (bytes the gateway is not to read). `coded429_br` is a 429
whose body is in `br`."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from tests.integration.exact_upstream import Answer, Metered, metered_four, sse

CHAT, RESPONSES, MESSAGES, GEMINI = "u-chat", "u-responses", "u-messages", "u-gemini"
"""The gateway's models, one per upstream protocol."""


_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
_DELTA = {"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}
_CHAT_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
CHAT_JSON = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ],
    "usage": _CHAT_USAGE,
}
CHAT_WHOLE = (
    sse({**_CHUNK, "choices": [_DELTA]})
    + sse({**_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    + b"data: [DONE]\n\n"
)
CHAT_PARTIAL = b'data: {"id":"c1","object":"chat.completion.chunk","choi'
CHAT_CUT = sse({**_CHUNK, "choices": [_DELTA]}) + CHAT_PARTIAL

_SHELL = {"id": "resp_1", "object": "response", "created_at": 1, "model": "up", "output": []}
_MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
_AT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
_RESPONSES_USAGE = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
RESPONSES_PARTIAL = b'event: response.output_text.delta\ndata: {"type":"resp'
RESPONSES_CUT = (
    b"".join(
        sse({"type": kind, "sequence_number": n, **members}, kind)
        for n, (kind, members) in enumerate(
            [
                ("response.created", {"response": {**_SHELL, "status": "in_progress"}}),
                ("response.output_item.added", {"output_index": 0, "item": _MESSAGE}),
                ("response.output_text.delta", {**_AT, "delta": "Hello", "logprobs": []}),
            ]
        )
    )
    + RESPONSES_PARTIAL
)
RESPONSES_JSON = {**_SHELL, "status": "completed", "usage": _RESPONSES_USAGE}
RESPONSES_FAILED = {
    **_SHELL,
    "status": "failed",
    "error": {"code": "rate_limit_exceeded", "message": "too many tokens mid-answer"},
    "usage": _RESPONSES_USAGE,
}

_ANTHROPIC_USAGE = {"input_tokens": 11, "output_tokens": 7}
MESSAGES_JSON = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": _ANTHROPIC_USAGE,
}
_START = {**MESSAGES_JSON, "content": [], "stop_reason": None, "usage": {**_ANTHROPIC_USAGE}}
_START["usage"]["output_tokens"] = 1
MESSAGES_PARTIAL = b'event: content_block_delta\ndata: {"type":"content_bl'
MESSAGES_CUT = (
    sse({"type": "message_start", "message": _START}, "message_start")
    + sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    + sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        "content_block_delta",
    )
    + MESSAGES_PARTIAL
)

GEMINI_OTHER = {
    "candidates": [{"index": 0, "finishReason": "OTHER"}],
    "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
    "modelVersion": "up",
}

GEMINI_JSON = {
    "candidates": [
        {
            "index": 0,
            "content": {"role": "model", "parts": [{"text": "Hi"}]},
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18},
    "modelVersion": "up",
}

HTML = b"<html><body>Please log in to the captive portal</body></html>"
BAD_JSON = b'{"id": "x", "choices": [ {"oops'

_PATHS = (("/chat/completions", "chat"), ("/responses", "responses"), ("/messages", "messages"))
_JSON_ANSWERS = {
    "chat": CHAT_JSON,
    "responses": RESPONSES_JSON,
    "messages": MESSAGES_JSON,
    "gemini": GEMINI_JSON,
}
_CUTS = {"chat": CHAT_CUT, "responses": RESPONSES_CUT, "messages": MESSAGES_CUT}


def answer(scenario: str, protocol: str) -> tuple[str, bytes]:
    """(content type, body) of a 200."""
    if scenario == "cut_eof":  # whole frames, then a partial one, then the end
        return "text/event-stream", _CUTS[protocol]
    if scenario == "sse_as_text":  # a whole event stream, labelled as plain text
        return "text/plain", CHAT_WHOLE
    if scenario == "nostream":  # a server that ignores `stream: true` (vLLM-like)
        return "application/json", json.dumps(_JSON_ANSWERS[protocol]).encode()
    if scenario == "badjson200":
        return "application/json", BAD_JSON
    if scenario == "empty200":
        return "application/json", b""
    if scenario == "html_200":
        return "text/html", HTML
    if scenario == "failed":  # Responses: a billed failure
        return "application/json", json.dumps(RESPONSES_FAILED).encode()
    if scenario == "other":  # Gemini: no output, and the prompt's tokens billed
        return "application/json", json.dumps(GEMINI_OTHER).encode()
    raise AssertionError(scenario)


def _raw_deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


_CODINGS = {
    "deflate": ("deflate", _raw_deflate),
    "zdeflate": ("deflate", zlib.compress),
    "gzip": ("gzip", gzip.compress),
    "br": ("br", _raw_deflate),
}


def _coded(coding: str, protocol: str, streams: bool) -> Answer:
    name, compress = _CODINGS[coding]
    if streams and protocol == "chat":
        media_type, body = "text/event-stream", CHAT_WHOLE
    else:
        media_type, body = "application/json", json.dumps(_JSON_ANSWERS[protocol]).encode()
    return 200, {"content-type": media_type, "content-encoding": name}, compress(body)


def _protocol(path: str) -> str:
    for suffix, protocol in _PATHS:
        if path.endswith(suffix):
            return protocol
    return "gemini"


def _answering(path: str, body: bytes) -> Answer:
    found = re.search(rb"SCEN:(\w+)", body)
    assert found is not None
    scenario = found.group(1).decode()
    if scenario == "coded429_br":  # a rate limit whose body the gateway cannot read
        headers = {"content-type": "application/json", "content-encoding": "br"}
        return 429, {**headers, "retry-after-ms": "1500"}, _raw_deflate(b'{"error": {}}')
    if scenario.startswith("coded_"):
        streams = path.endswith(":streamGenerateContent") or json.loads(body).get("stream") is True
        return _coded(scenario.removeprefix("coded_"), _protocol(path), streams)
    media_type, content = answer(scenario, _protocol(path))
    return 200, {"content-type": media_type}, content


def serve(workdir: Path) -> Iterator[Metered]:
    """For a module fixture to `yield from`."""
    yield from metered_four(_answering, workdir, "u")
