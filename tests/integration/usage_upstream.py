"""A fake upstream for tests/integration/test_usage_translated.py: every provider's answer,
streamed and not, reporting cache reads, cache writes and reasoning tokens in that
provider's own terms (the wire references in /work/shared/protocols and the official SDKs'
types), in exact bytes (exact_upstream): all of them in one answer, fixed numbers, which
the emulator's prompt-cache simulation (test_usage_prompt_cache.py) does not give.

One request, counted the same on every upstream: 100 uncached input tokens, 300 read from
the cache, 50 written to it (Gemini reports no cache writes), 20 visible
output tokens and 30 of reasoning. So a provider's wire says, for instance, Anthropic
`input_tokens: 100` beside its cache counts, OpenAI `prompt_tokens: 450` including them,
Gemini `candidatesTokenCount: 20` beside `thoughtsTokenCount: 30`.

A prompt holding `BARE_DELTA` gets, from a streamed Anthropic upstream, a `message_delta`
whose usage is `output_tokens` alone (the older shape); otherwise it repeats the
input-side counts, cumulative, as the API does now. A prompt holding `SEARCH` gets, from
an OpenAI Chat upstream, a first round calling `web_search` (which the gateway runs), then
the answer: two calls, each with the whole usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from tests.integration.exact_upstream import (
    Answer,
    Metered,
    json_answer,
    metered,
    sse,
    stream_answer,
)

UNCACHED, CACHE_READ, CACHE_WRITE, VISIBLE, REASONING = 100, 300, 50, 20, 30
OUTPUT = VISIBLE + REASONING
TOOL_USE_PROMPT = 10
"""Gemini's `toolUsePromptTokenCount`: part of the 100 uncached input tokens there."""

BARE_DELTA = "BARE_DELTA"
SEARCH = "SEARCH"

MODELS = {
    "chat": ("u-chat", "openai"),
    "responses": ("u-responses", "openai-responses"),
    "messages": ("u-messages", "anthropic"),
    "gemini": ("u-gemini", "gemini"),
}
"""The gateway's model on each upstream protocol, and the provider type."""
PRICE_IN, PRICE_OUT = 2.0, 8.0
PRICE_CACHE_READ, PRICE_CACHE_WRITE = 0.2, 2.5
"""USD per million tokens, every model."""

WRITES = {"chat": CACHE_WRITE, "responses": CACHE_WRITE, "messages": CACHE_WRITE, "gemini": 0}
"""The cache writes each upstream reports (Gemini reports none)."""


def input_total(upstream: str) -> int:
    """The whole prompt, as OpenAI counts it: uncached, cache reads and writes."""
    return UNCACHED + CACHE_READ + WRITES[upstream]


# --- OpenAI Chat Completions ---------------------------------------------------------

_CHAT_USAGE = {
    "prompt_tokens": input_total("chat"),
    "completion_tokens": OUTPUT,
    "total_tokens": input_total("chat") + OUTPUT,
    "prompt_tokens_details": {
        "cached_tokens": CACHE_READ,
        "cache_write_tokens": CACHE_WRITE,  # newer (openai-python 3.57)
        "audio_tokens": 0,
    },
    "completion_tokens_details": {
        "reasoning_tokens": REASONING,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
_CHAT_HEAD = {"id": "chatcmpl-1", "created": 1767225600, "model": "up", "service_tier": "default"}
_CHAT_JSON = {
    **_CHAT_HEAD,
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": _CHAT_USAGE,
}
_CHUNK = {**_CHAT_HEAD, "object": "chat.completion.chunk"}


_SEARCH_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "web_search", "arguments": '{"query": "cats"}'},
}
_CHAT_SEARCH_JSON = {
    **_CHAT_JSON,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [_SEARCH_CALL]},
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
}
"""A round that asks for the web search the gateway runs (SEARCH in the prompt)."""


def _chat_stream(search: bool = False) -> bytes:
    choices = [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None},
        {"index": 0, "delta": {"content": "Hello"}, "finish_reason": None},
        {"index": 0, "delta": {}, "finish_reason": "stop"},
    ]
    if search:
        call = {"index": 0, **_SEARCH_CALL}
        choices[1:] = [
            {"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": "tool_calls"},
        ]
    body = b"".join(sse({**_CHUNK, "choices": [c], "usage": None}) for c in choices)
    return body + sse({**_CHUNK, "choices": [], "usage": _CHAT_USAGE}) + b"data: [DONE]\n\n"


# --- OpenAI Responses ----------------------------------------------------------------

_RESPONSES_USAGE = {
    "input_tokens": input_total("responses"),
    "input_tokens_details": {"cached_tokens": CACHE_READ, "cache_write_tokens": CACHE_WRITE},
    "output_tokens": OUTPUT,
    "output_tokens_details": {"reasoning_tokens": REASONING},
    "total_tokens": input_total("responses") + OUTPUT,
}
_TEXT = {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}
_MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed"}
_RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1767225600,
    "model": "up",
    "status": "completed",
    "output": [{**_MESSAGE, "content": [_TEXT]}],
    "usage": _RESPONSES_USAGE,
}
_AT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
_STARTED = {**_RESPONSE, "status": "in_progress", "output": [], "usage": None}
_RESPONSES_EVENTS = [
    ("response.created", {"response": _STARTED}),
    ("response.in_progress", {"response": _STARTED}),
    (
        "response.output_item.added",
        {"output_index": 0, "item": {**_MESSAGE, "status": "in_progress", "content": []}},
    ),
    ("response.content_part.added", {**_AT, "part": {**_TEXT, "text": ""}}),
    ("response.output_text.delta", {**_AT, "delta": "Hello", "logprobs": []}),
    ("response.output_text.done", {**_AT, "text": "Hello", "logprobs": []}),
    ("response.content_part.done", {**_AT, "part": _TEXT}),
    ("response.output_item.done", {"output_index": 0, "item": _RESPONSE["output"][0]}),
    ("response.completed", {"response": _RESPONSE}),
]
_RESPONSES_STREAM = b"".join(
    sse({"type": kind, "sequence_number": n, **members}, kind)
    for n, (kind, members) in enumerate(_RESPONSES_EVENTS)
)

# --- Anthropic Messages --------------------------------------------------------------

_INPUT_SIDE = {
    "input_tokens": UNCACHED,
    "cache_creation_input_tokens": CACHE_WRITE,
    "cache_read_input_tokens": CACHE_READ,
}
_MESSAGES_USAGE = {
    **_INPUT_SIDE,
    "cache_creation": {"ephemeral_5m_input_tokens": CACHE_WRITE, "ephemeral_1h_input_tokens": 0},
    "output_tokens": OUTPUT,
    "output_tokens_details": {"thinking_tokens": REASONING},
    "service_tier": "standard",
}
_MESSAGES_JSON = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": _MESSAGES_USAGE,
}


def _messages_stream(bare_delta: bool) -> bytes:
    start = {**_MESSAGES_JSON, "content": [], "stop_reason": None}
    start["usage"] = {**_MESSAGES_USAGE, "output_tokens": 1}
    del start["usage"]["output_tokens_details"]
    final: dict[str, object] = {"output_tokens": OUTPUT}
    if not bare_delta:  # cumulative, the input side repeated
        final = {**_INPUT_SIDE, **final, "output_tokens_details": {"thinking_tokens": REASONING}}
    events = [
        ("message_start", {"message": start}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": final},
        ),
        ("message_stop", {}),
    ]
    return b"".join(sse({"type": kind, **members}, kind) for kind, members in events)


# --- Gemini --------------------------------------------------------------------------

_PROMPT = UNCACHED + CACHE_READ - TOOL_USE_PROMPT
_GEMINI_USAGE = {
    "promptTokenCount": _PROMPT,
    "cachedContentTokenCount": CACHE_READ,
    "candidatesTokenCount": VISIBLE,
    "toolUsePromptTokenCount": TOOL_USE_PROMPT,
    "thoughtsTokenCount": REASONING,
    "totalTokenCount": _PROMPT + VISIBLE + TOOL_USE_PROMPT + REASONING,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": _PROMPT}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": CACHE_READ}],
}
_CANDIDATE = {"content": {"role": "model", "parts": [{"text": "Hello"}]}, "index": 0}
_GEMINI_JSON = {
    "candidates": [{**_CANDIDATE, "finishReason": "STOP"}],
    "usageMetadata": _GEMINI_USAGE,
    "modelVersion": "up",
    "responseId": "r-1",
}
# Every chunk carries the usage so far; the first has no candidates count yet.
_EARLY_USAGE = {k: v for k, v in _GEMINI_USAGE.items() if k != "candidatesTokenCount"}
_EARLY_USAGE["totalTokenCount"] = _PROMPT + TOOL_USE_PROMPT + REASONING
_GEMINI_STREAM = sse(
    {
        "candidates": [{**_CANDIDATE, "content": {"role": "model", "parts": [{"text": "Hel"}]}}],
        "usageMetadata": _EARLY_USAGE,
        "modelVersion": "up",
        "responseId": "r-1",
    }
) + sse(
    {
        **_GEMINI_JSON,
        "candidates": [{**_GEMINI_JSON["candidates"][0], "content": {"parts": [{"text": "lo"}]}}],
    }
)

# -------------------------------------------------------------------------------------

_PATHS = (("/chat/completions", "chat"), ("/responses", "responses"), ("/messages", "messages"))
_WHOLE = {
    "chat": _CHAT_JSON,
    "responses": _RESPONSE,
    "messages": _MESSAGES_JSON,
    "gemini": _GEMINI_JSON,
}


def _streamed(protocol: str, body: bytes) -> bytes:
    if protocol == "chat":
        return _chat_stream()
    if protocol == "responses":
        return _RESPONSES_STREAM
    if protocol == "messages":
        return _messages_stream(BARE_DELTA.encode() in body)
    return _GEMINI_STREAM


def _searches(protocol: str, body: bytes) -> bool:
    """A Chat request asking for SEARCH whose search has not run yet."""
    if protocol != "chat" or SEARCH.encode() not in body:
        return False
    return all(m["role"] != "tool" for m in json.loads(body)["messages"])


def _answering(path: str, body: bytes) -> Answer:
    for suffix, protocol in _PATHS:
        if path.endswith(suffix):
            search = _searches(protocol, body)
            if json.loads(body).get("stream") is True:
                return stream_answer(_chat_stream(True) if search else _streamed(protocol, body))
            return json_answer(_CHAT_SEARCH_JSON if search else _WHOLE[protocol])
    if path.endswith(":streamGenerateContent"):
        return stream_answer(_GEMINI_STREAM)
    return json_answer(_GEMINI_JSON)


def serve(workdir: Path) -> Iterator[Metered]:
    """A gateway with each of MODELS on its upstream type, all this upstream, priced."""
    providers = {name: kind for name, (_, kind) in MODELS.items()}
    price = f"input_price: {PRICE_IN}, output_price: {PRICE_OUT}"
    price += f", cache_read_price: {PRICE_CACHE_READ}, cache_write_price: {PRICE_CACHE_WRITE}"
    models = {
        model: f"provider: {name}, model: up, max_output_tokens: 1000, {price}"
        for name, (model, _) in MODELS.items()
    }
    yield from metered(_answering, workdir, providers, models)
