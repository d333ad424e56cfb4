"""A fake upstream for tests/integration/test_bent_*.py: answers that bend the wire format
the way real servers do, in exact bytes (exact_upstream), on the OpenAI Chat
Completions, Responses, Anthropic Messages and Gemini paths. Each request's prompt names
a scenario (`SCEN:<name>`); the request says whether it streams.

- `floats`: every count and index written as an integral float (`"prompt_tokens": 11.0`),
  as a server that computes them as floats does; JSON does not tell 11.0 from 11.
- `tool_fragments`, `tool_parallel`, `tool_one_chunk`: Chat tool-call deltas without
  `index` (Gemini's OpenAI-compatible endpoint, older Ollama, mistral.rs, SGLang).
- `surrogates`: streamed, a text whose emoji comes as its two UTF-16 halves, each a lone
  `\\u` escape in its own delta (as a server streaming token by token does), then lone
  halves that never pair; not streamed, the same text whole in the answer's JSON (the
  emoji's pair of escapes, then the lone halves).
- `odd_error`: a 429 whose error body holds fields of types the provider never documents
  (a float `code`, a number for `param` or `request_id`, a string `code`, an object
  `details`), as OpenAI-compatible servers and proxies write them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from tests.integration.exact_upstream import (
    Answer,
    Metered,
    json_answer,
    metered_four,
    sse,
    stream_answer,
)
from tests.integration.unreadable_upstream import MESSAGES_JSON

CHAT, RESPONSES, MESSAGES, GEMINI = "b-chat", "b-responses", "b-messages", "b-gemini"
"""The gateway's models, one per upstream protocol."""

IN, OUT = 11, 7
"""The usage every answer reports."""

# --- floats -------------------------------------------------------------------------

_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1.0, "model": "up"}
_CHAT_USAGE = {
    "prompt_tokens": 11.0,
    "completion_tokens": 7.0,
    "total_tokens": 18.0,
    "prompt_tokens_details": {"cached_tokens": 0.0},
    "completion_tokens_details": {"reasoning_tokens": 0.0},
}
_CHAT_JSON = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1.0,
    "model": "up",
    "choices": [
        {
            "index": 0.0,
            "message": {"role": "assistant", "content": "Hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": _CHAT_USAGE,
}


def _chat_stream(*deltas: object, finish: str = "stop") -> bytes:
    """Chunks of choice 0 with these deltas, its finish, the usage chunk and [DONE]."""
    chunks = [{"index": 0.0, "delta": delta, "finish_reason": None} for delta in deltas]
    chunks.append({"index": 0.0, "delta": {}, "finish_reason": finish})
    body = b"".join(sse({**_CHUNK, "choices": [choice]}) for choice in chunks)
    return body + sse({**_CHUNK, "choices": [], "usage": _CHAT_USAGE}) + b"data: [DONE]\n\n"


_CHAT_FLOATS = _chat_stream({"role": "assistant", "content": "Hel"}, {"content": "lo"})

_RESPONSES_USAGE = {
    "input_tokens": 11.0,
    "input_tokens_details": {"cached_tokens": 0.0},
    "output_tokens": 7.0,
    "output_tokens_details": {"reasoning_tokens": 0.0},
    "total_tokens": 18.0,
}
_TEXT = {"type": "output_text", "text": "Hello", "annotations": []}
_MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "content": [_TEXT]}
_SHELL = {"id": "resp_1", "object": "response", "created_at": 1.0, "model": "up"}
_RESPONSES_JSON = {
    **_SHELL,
    "status": "completed",
    "output": [{**_MESSAGE, "status": "completed"}],
    "usage": _RESPONSES_USAGE,
}
_AT = {"item_id": "msg_1", "output_index": 0.0, "content_index": 0.0}
_RESPONSES_EVENTS = [
    ("response.created", {"response": {**_SHELL, "status": "in_progress", "output": []}}),
    (
        "response.output_item.added",
        {"output_index": 0.0, "item": {**_MESSAGE, "status": "in_progress", "content": []}},
    ),
    ("response.content_part.added", {**_AT, "part": {**_TEXT, "text": ""}}),
    ("response.output_text.delta", {**_AT, "delta": "Hello", "logprobs": []}),
    ("response.output_text.done", {**_AT, "text": "Hello", "logprobs": []}),
    ("response.content_part.done", {**_AT, "part": _TEXT}),
    ("response.output_item.done", {"output_index": 0.0, "item": _RESPONSES_JSON["output"][0]}),
    ("response.completed", {"response": _RESPONSES_JSON}),
]
_RESPONSES_FLOATS = b"".join(
    sse({"type": kind, "sequence_number": float(n), **members}, kind)
    for n, (kind, members) in enumerate(_RESPONSES_EVENTS)
)

_MESSAGES_JSON = {
    **MESSAGES_JSON,
    "usage": {
        "input_tokens": 11.0,
        "output_tokens": 7.0,
        "cache_creation_input_tokens": 0.0,
        "cache_read_input_tokens": 0.0,
    },
}
_START = {
    **_MESSAGES_JSON,
    "content": [],
    "stop_reason": None,
    "usage": {**_MESSAGES_JSON["usage"], "output_tokens": 1.0},
}
_MESSAGES_EVENTS = [
    ("message_start", {"message": _START}),
    ("content_block_start", {"index": 0.0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"index": 0.0, "delta": {"type": "text_delta", "text": "Hello"}}),
    ("content_block_stop", {"index": 0.0}),
    ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7.0}}),
    ("message_stop", {}),
]
_MESSAGES_FLOATS = b"".join(
    sse({"type": kind, **members}, kind) for kind, members in _MESSAGES_EVENTS
)

_GEMINI_USAGE = {"promptTokenCount": 11.0, "candidatesTokenCount": 7.0, "totalTokenCount": 18.0}
_GEMINI_JSON = {
    "candidates": [
        {
            "index": 0.0,
            "content": {"role": "model", "parts": [{"text": "Hello"}]},
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": _GEMINI_USAGE,
    "modelVersion": "up",
}
_GEMINI_FLOATS = sse(
    {"candidates": [{"index": 0.0, "content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
) + sse(
    {
        **_GEMINI_JSON,
        "candidates": [{**_GEMINI_JSON["candidates"][0], "content": {"parts": [{"text": "lo"}]}}],
    }
)

_FLOATS = {
    ("chat", False): json_answer(_CHAT_JSON),
    ("chat", True): stream_answer(_CHAT_FLOATS),
    ("responses", False): json_answer(_RESPONSES_JSON),
    ("responses", True): stream_answer(_RESPONSES_FLOATS),
    ("messages", False): json_answer(_MESSAGES_JSON),
    ("messages", True): stream_answer(_MESSAGES_FLOATS),
    ("gemini", False): json_answer(_GEMINI_JSON),
    ("gemini", True): stream_answer(_GEMINI_FLOATS),
}

# --- Chat tool-call deltas without index ---------------------------------------------

CALLS = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"zone": "CET"}')]
"""The calls every tool scenario makes, in order (name, arguments)."""


def _opening(n: int, arguments: str = "") -> dict[str, object]:
    name = CALLS[n][0]
    return {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _more(arguments: str) -> dict[str, object]:
    return {"function": {"arguments": arguments}}


_WEATHER, _TIME = CALLS[0][1], CALLS[1][1]
_TOOLS = {
    # one call: its id and name, then its arguments in pieces with neither
    "tool_fragments": _chat_stream(
        {"role": "assistant", "tool_calls": [_opening(0)]},
        {"tool_calls": [_more(_WEATHER[:7])]},
        {"tool_calls": [_more(_WEATHER[7:])]},
        finish="tool_calls",
    ),
    # two calls, one after the other, each opened by its id (Ollama: each call whole)
    "tool_parallel": _chat_stream(
        {"role": "assistant", "tool_calls": [_opening(0, _WEATHER[:5])]},
        {"tool_calls": [_more(_WEATHER[5:])]},
        {"tool_calls": [_opening(1, _TIME)]},
        finish="tool_calls",
    ),
    # two calls in one chunk (Gemini's OpenAI endpoint), then more of each, by position
    "tool_one_chunk": _chat_stream(
        {"role": "assistant", "tool_calls": [_opening(0, _WEATHER[:3]), _opening(1, _TIME[:4])]},
        {"tool_calls": [_more(_WEATHER[3:]), _more(_TIME[4:])]},
        finish="tool_calls",
    ),
}
TOOL_SCENARIOS = list(_TOOLS)


# --- UTF-16 surrogate halves ---------------------------------------------------------

SURROGATE_PIECES = ("Hi \ud83d", "\ude00 x\ude01y \ud83d")
"""The text's deltas: an emoji's halves split across the two, then a lone low half in
the middle of a delta and a high half at the end of the stream (json.dumps writes each
lone half as its `\\u` escape)."""
SURROGATE_TEXT = "Hi \U0001f600 x\ufffdy \ufffd"
"""The text a client gets: the halves joined, each lone half U+FFFD."""

_INT_CHAT_USAGE = {"prompt_tokens": IN, "completion_tokens": OUT, "total_tokens": IN + OUT}
_INT_CHUNK = {**_CHUNK, "created": 1}
_CHAT_SURROGATES = (
    b"".join(
        sse({**_INT_CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        for delta, finish in [
            ({"role": "assistant", "content": SURROGATE_PIECES[0]}, None),
            ({"content": SURROGATE_PIECES[1]}, None),
            ({}, "stop"),
        ]
    )
    + sse({**_INT_CHUNK, "choices": [], "usage": _INT_CHAT_USAGE})
    + b"data: [DONE]\n\n"
)
_INT_AT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
_INT_RESPONSES = {
    **_RESPONSES_JSON,
    "created_at": 1,
    "usage": {"input_tokens": IN, "output_tokens": OUT, "total_tokens": IN + OUT},
}
_RESPONSES_SURROGATES = b"".join(
    sse({"type": kind, "sequence_number": n, **members}, kind)
    for n, (kind, members) in enumerate(
        [
            ("response.created", {"response": {**_INT_RESPONSES, "status": "in_progress"}}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": {**_MESSAGE, "status": "in_progress", "content": []}},
            ),
            ("response.content_part.added", {**_INT_AT, "part": {**_TEXT, "text": ""}}),
            *[
                ("response.output_text.delta", {**_INT_AT, "delta": piece, "logprobs": []})
                for piece in SURROGATE_PIECES
            ],
            ("response.content_part.done", {**_INT_AT, "part": _TEXT}),
            ("response.output_item.done", {"output_index": 0, "item": _MESSAGE}),
            ("response.completed", {"response": _INT_RESPONSES}),
        ]
    )
)
_MESSAGES_SURROGATES = b"".join(
    sse({"type": kind, **members}, kind)
    for kind, members in [
        ("message_start", {"message": {**MESSAGES_JSON, "content": [], "stop_reason": None}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        *[
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
            for piece in SURROGATE_PIECES
        ],
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": OUT}}),
        ("message_stop", {}),
    ]
)
_GEMINI_SURROGATES = b"".join(
    sse({"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": piece}]}}]})
    for piece in SURROGATE_PIECES
) + sse(
    {
        "candidates": [{"index": 0, "content": {"parts": []}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": IN, "candidatesTokenCount": OUT},
        "modelVersion": "up",
    }
)
_SURROGATES = {
    "chat": _CHAT_SURROGATES,
    "responses": _RESPONSES_SURROGATES,
    "messages": _MESSAGES_SURROGATES,
    "gemini": _GEMINI_SURROGATES,
}

_WHOLE_TEXT = "".join(SURROGATE_PIECES)
_WHOLE_SURROGATES = {
    "chat": {
        **_CHAT_JSON,
        "created": 1,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _WHOLE_TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": _INT_CHAT_USAGE,
    },
    "responses": {
        **_INT_RESPONSES,
        "output": [
            {**_MESSAGE, "status": "completed", "content": [{**_TEXT, "text": _WHOLE_TEXT}]}
        ],
    },
    "messages": {**MESSAGES_JSON, "content": [{"type": "text", "text": _WHOLE_TEXT}]},
    "gemini": {
        "candidates": [
            {
                "index": 0,
                "content": {"role": "model", "parts": [{"text": _WHOLE_TEXT}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": IN, "candidatesTokenCount": OUT},
        "modelVersion": "up",
    },
}
"""Not streamed: the whole text in one string, which json.dumps writes as `Hi
\\ud83d\\ude00 x\\ude01y \\ud83d`."""


# --- error bodies with odd field types -----------------------------------------------

ODD_ERROR = "Rate limit reached for requests; slow down"
"""The message of every `odd_error` body."""
_OPENAI_ODD = {"error": {"message": ODD_ERROR, "type": "requests", "param": 7, "code": 429.0}}
_ODD_ERRORS = {
    "chat": _OPENAI_ODD,
    "responses": _OPENAI_ODD,
    "messages": {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": ODD_ERROR},
        "request_id": 12345,
    },
    "gemini": {
        "error": {
            "code": "429",
            "message": ODD_ERROR,
            "status": "RESOURCE_EXHAUSTED",
            "details": {"reason": "RATE_LIMIT_EXCEEDED"},
        }
    },
}


_PATHS = (("/chat/completions", "chat"), ("/responses", "responses"), ("/messages", "messages"))


def _protocol(path: str) -> tuple[str, bool | None]:
    """The upstream protocol a path is of, and whether it streams (None: by the body)."""
    for suffix, protocol in _PATHS:
        if path.endswith(suffix):
            return protocol, None
    return "gemini", path.endswith(":streamGenerateContent")


def _answering(path: str, body: bytes) -> Answer:
    found = re.search(rb"SCEN:(\w+)", body)
    assert found is not None
    scenario = found.group(1).decode()
    protocol, streams = _protocol(path)
    if streams is None:
        streams = json.loads(body).get("stream") is True
    if scenario == "floats":
        return _FLOATS[protocol, streams]
    if scenario == "odd_error":
        return json_answer(_ODD_ERRORS[protocol], 429)
    if scenario == "surrogates":
        if not streams:
            return json_answer(_WHOLE_SURROGATES[protocol])
        return stream_answer(_SURROGATES[protocol])
    assert protocol == "chat" and streams, (protocol, streams)
    return stream_answer(_TOOLS[scenario])


def serve(workdir: Path) -> Iterator[Metered]:
    """For a module fixture to `yield from`."""
    yield from metered_four(_answering, workdir, "b")
