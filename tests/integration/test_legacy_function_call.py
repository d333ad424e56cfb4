"""An OpenAI Chat upstream on the legacy `functions` API (OpenAI for a request that uses
it; OpenAI-compatible servers that know only this form) answers with `function_call`
(unary: `message.function_call`; streamed: `delta.function_call` fragments) and the
finish reason `function_call`. A client on a translated path gets that one call, with
an id the gateway issues: a Messages client a `tool_use` block (it got the `tool_use`
stop reason with no block), a Responses client a `function_call` item (it got an empty
output). The same-protocol fast path relays the upstream's bytes unchanged. Official
SDKs → a real gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving, stream_answer
from tests.integration.servers import STATIC_KEY

TOOL = "get_weather"
MODEL = "legacy-chat"
ARGUMENTS = '{"city":"Paris"}'
_HEAD = {"id": "chatcmpl-up1", "created": 1700000000, "model": "up-model"}
_USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def _sse(choices: list[object], **extra: object) -> bytes:
    chunk = {**_HEAD, "object": "chat.completion.chunk", "choices": choices, **extra}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _chunk(delta: object, finish: str | None = None) -> bytes:
    return _sse([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}])


CHAT_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"function_call": {"name": TOOL, "arguments": ""}}),
        _chunk({"function_call": {"arguments": '{"city":'}}),
        _chunk({"function_call": {"arguments": '"Paris"}'}}),
        _chunk({}, "function_call"),
        _sse([], usage=_USAGE),
        b"data: [DONE]\n\n",
    ]
)
_MESSAGE = {
    "role": "assistant",
    "content": None,
    "refusal": None,
    "function_call": {"name": TOOL, "arguments": ARGUMENTS},
}
_CHOICE = {"index": 0, "message": _MESSAGE, "finish_reason": "function_call", "logprobs": None}
CHAT_JSON = json.dumps(
    {**_HEAD, "object": "chat.completion", "choices": [_CHOICE], "usage": _USAGE}
).encode()


def legacy_call(path: str, body: bytes) -> Answer:
    """Chat Completions answering every request with the legacy call, streamed or as
    JSON as asked."""
    if json.loads(body).get("stream"):
        return stream_answer(CHAT_STREAM)
    return 200, {"content-type": "application/json"}, CHAT_JSON


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        legacy_call,
        tmp_path_factory.mktemp("legacy-function-call"),
        {"compat": "openai"},
        {MODEL: "provider: compat"},
    )


def _openai(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


_SCHEMA: Any = {"type": "object", "properties": {"city": {"type": "string"}}}
_MESSAGES: Any = [{"role": "user", "content": "weather in Paris?"}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_messages_client_gets_a_tool_use_block(gateway: Gateway, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    kwargs: Any = {"model": MODEL, "max_tokens": 100, "messages": _MESSAGES}
    kwargs["tools"] = [{"name": TOOL, "input_schema": _SCHEMA}]
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == (TOOL, {"city": "Paris"})
    assert block.id


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_responses_client_gets_a_function_call_item(gateway: Gateway, stream: bool) -> None:
    tools: Any = [{"type": "function", "name": TOOL, "parameters": _SCHEMA}]
    client = _openai(gateway).responses
    if stream:
        events = list(client.create(model=MODEL, input="weather?", tools=tools, stream=True))
        done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
        assert done == [ARGUMENTS]
        assert events[-1].type == "response.completed"
        result = events[-1].response
    else:
        result = client.create(model=MODEL, input="weather?", tools=tools)
    assert result.status == "completed"
    [call] = result.output
    assert call.type == "function_call"
    assert (call.name, call.arguments) == (TOOL, ARGUMENTS)
    assert call.call_id


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_chat_client_gets_the_upstream_bytes(gateway: Gateway, stream: bool) -> None:
    """The fast path relays the legacy form as the upstream sent it."""
    functions: Any = [{"name": TOOL, "parameters": _SCHEMA}]
    client = _openai(gateway).chat.completions
    if stream:
        chunks = list(
            client.create(model=MODEL, messages=_MESSAGES, functions=functions, stream=True)
        )
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        fragments = [d.function_call.arguments or "" for d in deltas if d.function_call]
        assert "".join(fragments) == ARGUMENTS
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "function_call"
    else:
        result = client.create(model=MODEL, messages=_MESSAGES, functions=functions)
        [choice] = result.choices
        assert choice.finish_reason == "function_call"
        call = choice.message.function_call
        assert call is not None and (call.name, call.arguments) == (TOOL, ARGUMENTS)
        assert choice.message.tool_calls is None
