"""An upstream that answers a tool without parameters with `"arguments": ""` (vLLM,
Ollama and other OpenAI-compatible servers do): a client on a translated path gets `{}`,
valid JSON, in every place its protocol carries the finished call's arguments (Codex
parses them); the same-protocol fast path relays the upstream's bytes unchanged. Official
SDKs → a real gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway, serving_config
from tests.integration.servers import STATIC_KEY

TOOL = "list_things"
CHAT_MODEL, RESPONSES_MODEL = "noargs-chat", "noargs-responses"
_CALL = {"id": "call_0", "type": "function", "function": {"name": TOOL, "arguments": ""}}
_HEAD = {"id": "chatcmpl-x", "created": 1, "model": "m"}
_USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _chunk(delta: object, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _sse({**_HEAD, "object": "chat.completion.chunk", "choices": [choice]})


CHAT_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [{"index": 0, **_CALL}]}),
        _chunk({}, "tool_calls"),
        _sse({**_HEAD, "object": "chat.completion.chunk", "choices": [], "usage": _USAGE}),
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
    _sse({"type": kind, "sequence_number": n, **members}, kind)
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


class Upstream(BaseHTTPRequestHandler):
    """Chat Completions and Responses, each answering with one call whose arguments
    are `""`, streamed or as JSON as asked."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        streamed = bool(request.get("stream"))
        chat = self.path.endswith("/chat/completions")
        if streamed:
            body = CHAT_STREAM if chat else RESPONSES_STREAM
        else:
            body = CHAT_JSON if chat else RESPONSES_JSON
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if streamed else "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f'"http://127.0.0.1:{server.server_address[1]}/v1", api_key: up'
    workdir = tmp_path_factory.mktemp("empty-arguments")
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{workdir / 'db.sqlite'}\n"
        f"providers:\n  compat: {{type: openai, base_url: {upstream}}}\n"
        f"  responses: {{type: openai-responses, base_url: {upstream}}}\n"
        f"models:\n  {CHAT_MODEL}: {{provider: compat}}\n"
        f"  {RESPONSES_MODEL}: {{provider: responses}}\n"
        f'keys:\n  - {{key: "{STATIC_KEY}", name: ci}}\n'
    )
    yield from serving_config(config)
    server.shutdown()


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
