"""A client on OpenAI's legacy `functions` API (the official openai SDK with `functions`,
`function_call` and `role: "function"` results) holds a two-turn exchange through a real
gateway: a call, its result, then the answer.

- OpenAI Chat upstream (the fast path): the upstream gets the client's legacy body as
  sent, and the client its legacy answer (an upstream here that answers as OpenAI does).
- Anthropic and Gemini upstreams (the emulator): the answer's call comes back as
  `message.function_call` / `delta.function_call` with the finish reason `function_call`,
  and the second turn's result reaches the upstream as that provider's tool result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.exact_upstream import Answer, serving, stream_answer
from tests.integration.servers import STATIC_KEY

TOOL = "get_weather"
ARGUMENTS = '{"city":"Paris"}'
FUNCTIONS: Any = [
    {
        "name": TOOL,
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
# The emulator's script: call the tool (a translated upstream), then report its result.
PROMPT = 'weather in Paris? [[tool get_weather {"city": "Paris"}]]'
RESULT = "sunny, 21 C"
LEGACY_MODEL = "legacy-gpt"
TRANSLATED = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}


RECEIVED: list[dict[str, Any]] = []
"""The bodies the legacy upstream got, in order."""


def legacy_openai(path: str, body: bytes) -> Answer:
    """OpenAI Chat answering a legacy request as OpenAI does: a `function_call` first,
    the answer once a `function` message holds the result. Records the bodies it gets."""
    request = json.loads(body)
    RECEIVED.append(request)
    answered = any(m.get("role") == "function" for m in request["messages"])
    if request.get("stream"):
        return stream_answer(_stream(answered))
    return 200, {"content-type": "application/json"}, _completion(answered)


_HEAD = {"id": "chatcmpl-up", "created": 1700000000, "model": LEGACY_MODEL}


def _completion(answered: bool) -> bytes:
    if answered:
        message: dict[str, Any] = {"role": "assistant", "content": f"It is {RESULT}."}
    else:
        call = {"name": TOOL, "arguments": ARGUMENTS}
        message = {"role": "assistant", "content": None, "function_call": call}
    finish = "stop" if answered else "function_call"
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    document = {**_HEAD, "object": "chat.completion", "choices": [choice], "usage": usage}
    return json.dumps(document).encode()


def _stream(answered: bool) -> bytes:
    if answered:
        deltas: list[Any] = [{"content": f"It is {RESULT}."}]
    else:
        deltas = [
            {"function_call": {"name": TOOL, "arguments": ""}},
            {"function_call": {"arguments": ARGUMENTS[:8]}},
            {"function_call": {"arguments": ARGUMENTS[8:]}},
        ]
    deltas = [{"role": "assistant", "content": ""}, *deltas]
    finish = "stop" if answered else "function_call"
    chunks = [(d, None) for d in deltas] + [({}, finish)]
    frames = [
        {
            **_HEAD,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": d, "finish_reason": f, "logprobs": None}],
        }
        for d, f in chunks
    ]
    lines = [f"data: {json.dumps(frame)}\n\n" for frame in frames] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


@pytest.fixture(scope="module")
def legacy_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        legacy_openai,
        tmp_path_factory.mktemp("legacy-functions"),
        {"legacy": "openai"},
        {LEGACY_MODEL: "provider: legacy"},
    )


class Client:
    """The openai SDK, keeping the JSON body of each request it sends."""

    def __init__(self, gateway: Gateway) -> None:
        self.sent: list[dict[str, Any]] = []
        hooks = {"request": [lambda r: self.sent.append(json.loads(r.read()))]}
        http = httpx.Client(event_hooks=hooks)
        self.sdk = openai.OpenAI(
            base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0, http_client=http
        )

    def turn(self, model: str, messages: list[Any], stream: bool) -> tuple[Any, str | None]:
        """The answer's (message dict, finish reason), accumulated from the stream when
        streamed."""
        completions = self.sdk.chat.completions
        if not stream:
            result = completions.create(model=model, messages=messages, functions=FUNCTIONS)
            [choice] = result.choices
            assert choice.message.tool_calls is None
            message = choice.message.model_dump(
                exclude_none=True, include={"content", "function_call"}
            )
            return message, choice.finish_reason
        chunks = list(
            completions.create(model=model, messages=messages, functions=FUNCTIONS, stream=True)
        )
        content, name, arguments, finish = "", None, "", None
        for chunk in chunks:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            assert delta.tool_calls is None
            content += delta.content or ""
            if delta.function_call is not None:
                name = name or delta.function_call.name
                arguments += delta.function_call.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
        message = {"content": content} if content else {}
        if name is not None:
            message["function_call"] = {"name": name, "arguments": arguments}
        return message, finish


def _exchange(client: Client, model: str, stream: bool) -> str:
    """The two legacy turns; returns the final answer's text."""
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    first, finish = client.turn(model, messages, stream)
    assert finish == "function_call"
    call = first["function_call"]
    assert call["name"] == TOOL and json.loads(call["arguments"]) == {"city": "Paris"}
    messages += [
        {"role": "assistant", "content": None, "function_call": call},
        {"role": "function", "name": TOOL, "content": RESULT},
    ]
    second, finish = client.turn(model, messages, stream)
    assert finish == "stop" and "function_call" not in second
    text: str = second["content"]
    return text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_upstream_gets_the_legacy_body_as_sent(
    legacy_gateway: Gateway, stream: bool
) -> None:
    RECEIVED.clear()
    client = Client(legacy_gateway)
    assert _exchange(client, LEGACY_MODEL, stream) == f"It is {RESULT}."
    assert len(client.sent) == len(RECEIVED) == 2
    for sent, received in zip(client.sent, RECEIVED, strict=True):
        # Only the stream's usage request is the gateway's own (README: always asked).
        received.pop("stream_options", None)
        assert received == sent
    assert RECEIVED[1]["messages"][2]["role"] == "function"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("upstream", list(TRANSLATED))
def test_translated_upstream_answers_in_the_legacy_form(
    gateway: Gateway, emulator: Emulator, upstream: str, stream: bool
) -> None:
    emulator.clear()
    answer = _exchange(Client(gateway), TRANSLATED[upstream], stream)
    assert answer == f"Tool {TOOL} returned: {RESULT}"
    second = emulator.requests()[-1]["body"]
    if upstream == "anthropic":
        turn = second["messages"][-2:]
        [use] = [b for b in turn[0]["content"] if b["type"] == "tool_use"]
        [result] = turn[1]["content"]
        assert (use["name"], use["input"]) == (TOOL, {"city": "Paris"})
        assert result["type"] == "tool_result" and result["tool_use_id"] == use["id"]
        assert RESULT in json.dumps(result["content"])
    else:
        turn = second["contents"][-2:]
        [call] = [p["functionCall"] for p in turn[0]["parts"] if "functionCall" in p]
        [response] = [p["functionResponse"] for p in turn[1]["parts"]]
        assert (call["name"], call["args"]) == (TOOL, {"city": "Paris"})
        assert response["name"] == TOOL and RESULT in json.dumps(response["response"])
