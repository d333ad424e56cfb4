"""Claude thinks only when the request turns thinking on, as the real API does: `[[think]]`
shows as a thinking block with `thinking: enabled` (or `adaptive`), never without."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

PROMPT = [{"role": "user", "content": "answer [[think seventeen times three]]"}]


def _create(client: anthropic.Anthropic, stream: bool, **kwargs: Any) -> Any:
    kwargs = {"model": "m", "max_tokens": 2000, "messages": PROMPT, **kwargs}
    if stream:
        with client.messages.stream(**kwargs) as events:
            return events.get_final_message()
    return client.messages.create(**kwargs)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("thinking", [None, {"type": "disabled"}])
def test_no_thinking_unless_enabled(anthropic_client, stream, thinking):
    extra = {} if thinking is None else {"thinking": thinking}
    message = _create(anthropic_client, stream, **extra)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "You said: answer"
    # The thinking words are not produced, so they are not billed either.
    assert message.usage.output_tokens == 3


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "thinking", [{"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"}]
)
def test_thinking_when_enabled_or_adaptive(anthropic_client, stream, thinking):
    message = _create(anthropic_client, stream, thinking=thinking)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "seventeen times three"
    assert message.content[0].signature.startswith("emu-sig-")
    assert message.usage.output_tokens == 6


@pytest.mark.parametrize(
    ("max_tokens", "thinking", "param"),
    [
        (2000, {"type": "enabled", "budget_tokens": 1023}, "budget_tokens"),
        (2000, {"type": "enabled"}, "budget_tokens"),
        (1024, {"type": "enabled", "budget_tokens": 1024}, "max_tokens"),
        (2000, {"type": "sometimes"}, "thinking.type"),
    ],
)
def test_invalid_thinking_is_a_400(base_url, max_tokens, thinking, param):
    body = {"model": "m", "max_tokens": max_tokens, "thinking": thinking, "messages": PROMPT}
    response = httpx.post(f"{base_url}/v1/messages", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and param in error["message"]


_LOOP = [
    {"role": "user", "content": "look"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
]
_TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("thinking", "status"),
    [({"type": "enabled", "budget_tokens": 1024}, 400), ({"type": "adaptive"}, 200)],
)
def test_a_tool_loop_without_thinking_is_refused_only_when_enabled(
    base_url: str, thinking: dict[str, Any], status: int
) -> None:
    """`enabled` thinking always opens the turn with a thinking block, so a tool loop sent
    back without it is the API's 400; `adaptive` lets the model skip it (this emulator does
    without `[[think]]`), and its turn came back refused: Claude Code's tool loops through
    the emulator failed unless the prompt said `[[think]]`."""
    body = {"model": "m", "max_tokens": 2000, "thinking": thinking, "messages": _LOOP}
    body["tools"] = _TOOLS
    response = httpx.post(f"{base_url}/v1/messages", json=body)
    assert response.status_code == status, response.text
