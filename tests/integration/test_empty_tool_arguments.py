"""An upstream that answers a tool without parameters with `"arguments": ""` (vLLM,
Ollama and other OpenAI-compatible servers do): a client on a translated path gets `{}`,
valid JSON, in every place its protocol carries the finished call's arguments (Codex
parses them); the same-protocol fast path relays the upstream's bytes unchanged. Official
SDKs → a real gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving, sse, stream_answer
from tests.integration.servers import STATIC_KEY

TOOL = "list_things"
CHAT_MODEL, RESPONSES_MODEL = "noargs-chat", "noargs-responses"
_CALL = {"id": "call_0", "type": "function", "function": {"name": TOOL, "arguments": ""}}
_HEAD = {"id": "chatcmpl-x", "created": 1, "model": "m"}
_USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _chunk(delta: object, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse({**_HEAD, "object": "chat.completion.chunk", "choices": [choice]})


CHAT_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [{"index": 0, **_CALL}]}),
        _chunk({}, "tool_calls"),
        sse({**_HEAD, "object": "chat.completion.chunk", "choices": [], "usage": _USAGE}),
        b"data: [DONE]\n\n",
    ]
)
_MESSAGE = {"role": "assistant", "content": None, "tool_calls": [_CALL]}
CHAT_JSON = json.dumps(
    {
        **_HEAD,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": _MESSAGE, "finish_reason": "tool_calls"}],
        "usage": _USAGE,
    }
).encode()

_ITEM = {"id": "fc_0", "type": "function_call", "status": "completed", "call_id": "call_0",
         "name": TOOL, "arguments": ""}  # fmt: skip
_RESPONSE = {"id": "resp_x", "object": "response", "created_at": 1, "model": "m",
             "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}  # fmt: skip
RESPONSES_STREAM = b"".join(
    sse({"type": kind, "sequence_number": n, **members}, kind)
    for n, (kind, members) in enumerate(
        [
            ("response.created", {"response": {**_RESPONSE, "status": "in_progress"}}),
            ("response.output_item.added", {"output_index": 0, "item": _ITEM}),
            ("response.output_item.done", {"output_index": 0, "item": _ITEM}),
            (
                "response.completed",
                {"response": {**_RESPONSE, "status": "completed", "output": [_ITEM]}},
            ),
        ]
    )
)
RESPONSES_JSON = json.dumps({**_RESPONSE, "status": "completed", "output": [_ITEM]}).encode()


def one_call(path: str, body: bytes) -> Answer:
    """Chat Completions and Responses, each answering with one call whose arguments
    are `""`, streamed or as JSON as asked."""
    chat = path.endswith("/chat/completions")
    if json.loads(body).get("stream"):
        return stream_answer(CHAT_STREAM if chat else RESPONSES_STREAM)
    return 200, {"content-type": "application/json"}, CHAT_JSON if chat else RESPONSES_JSON


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        one_call,
        tmp_path_factory.mktemp("empty-arguments"),
        {"compat": "openai", "responses": "openai-responses"},
        {CHAT_MODEL: "provider: compat", RESPONSES_MODEL: "provider: responses"},
    )


def _openai(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


_TOOLS: Any = [{"type": "function", "name": TOOL, "parameters": {"type": "object"}}]
_CHAT_TOOLS: Any = [
    {"type": "function", "function": {"name": TOOL, "parameters": {"type": "object"}}}
]
_MESSAGES: Any = [{"role": "user", "content": "list them"}]


def test_responses_json_on_a_chat_upstream(gateway: Gateway) -> None:
    result = _openai(gateway).responses.create(model=CHAT_MODEL, input="list them", tools=_TOOLS)
    [call] = result.output
    assert call.type == "function_call" and call.name == TOOL
    assert call.arguments == "{}"


def test_responses_stream_on_a_chat_upstream(gateway: Gateway) -> None:
    events = list(
        _openai(gateway).responses.create(
            model=CHAT_MODEL, input="list them", tools=_TOOLS, stream=True
        )
    )
    arguments = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    items = [e.item for e in events if e.type == "response.output_item.done"]
    assert arguments == ["{}"]
    assert [(i.type, getattr(i, "arguments", None)) for i in items] == [("function_call", "{}")]
    assert events[-1].type == "response.completed"
    [call] = events[-1].response.output
    assert call.type == "function_call" and call.arguments == "{}"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_chat_on_a_responses_upstream(gateway: Gateway, stream: bool) -> None:
    client = _openai(gateway).chat.completions
    if stream:
        chunks = client.create(
            model=RESPONSES_MODEL, messages=_MESSAGES, tools=_CHAT_TOOLS, stream=True
        )
        calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
        assert "".join(t.function.arguments or "" for t in calls if t.function) == "{}"
    else:
        result = client.create(model=RESPONSES_MODEL, messages=_MESSAGES, tools=_CHAT_TOOLS)
        [call] = result.choices[0].message.tool_calls or []
        assert call.type == "function" and call.function.arguments == "{}"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_messages_on_a_chat_upstream(gateway: Gateway, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    kwargs: Any = {"model": CHAT_MODEL, "max_tokens": 100, "messages": _MESSAGES}
    kwargs["tools"] = [{"name": TOOL, "input_schema": {"type": "object"}}]
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    [block] = message.content
    assert block.type == "tool_use" and block.input == {}


def test_chat_on_a_chat_upstream_is_relayed_unchanged(gateway: Gateway) -> None:
    """The fast path does not rewrite what it relays, the upstream's `""` included."""
    result = _openai(gateway).chat.completions.create(
        model=CHAT_MODEL, messages=_MESSAGES, tools=_CHAT_TOOLS
    )
    [call] = result.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.arguments == ""
