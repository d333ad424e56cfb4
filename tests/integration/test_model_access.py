"""A key limited to some models gets the same 403 for a model it may not use whether that
model is configured or not, so it cannot learn the other models; a 404 for an unknown
model names only models the key may use (DESIGN.md: a key that may not use a model gets
403)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.servers import LIMITED_KEY, STATIC_KEY

PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}


def _ask(gateway: Gateway, protocol: str, key: str, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(gateway.url + PATHS[protocol], json=body, headers=headers)


@pytest.mark.parametrize("protocol", ["chat", "messages"])
def test_a_limited_key_cannot_tell_configured_models_from_unknown_ones(
    gateway: Gateway, protocol: str
) -> None:
    configured = _ask(gateway, protocol, LIMITED_KEY, "gemini-2.5-flash")
    unknown = _ask(gateway, protocol, LIMITED_KEY, "no-such-model")
    assert configured.status_code == unknown.status_code == 403, unknown.text

    def shape(response: httpx.Response) -> str:
        body = re.sub(r"req_\w+|msg_\w+", "ID", response.text)
        return body.replace("gemini-2.5-flash", "MODEL").replace("no-such-model", "MODEL")

    assert shape(configured) == shape(unknown)
    assert "claude" not in unknown.text and "gpt-5-mini" not in unknown.text
    assert _ask(gateway, protocol, LIMITED_KEY, "gpt-4o-mini").status_code == 200


def test_a_key_for_every_model_gets_404_naming_them(gateway: Gateway) -> None:
    answer = _ask(gateway, "chat", STATIC_KEY, "no-such-model")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert error["message"].startswith(
        "The model 'no-such-model' does not exist or is not served here (models: "
    )
    assert "gemini-2.5-flash" in error["message"] and "gpt-4o-mini" in error["message"]


def _post(gateway: Gateway, path: str, body: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {LIMITED_KEY}", "anthropic-version": "2023-06-01"}
    return httpx.post(gateway.url + path, json=body, headers=headers)


def _message(model: str) -> dict[str, object]:
    return {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}


SIDE_DOORS = {
    "count_tokens": ("/v1/messages/count_tokens", lambda model: _message(model)),
    "input_tokens": ("/v1/responses/input_tokens", lambda model: {"model": model, "input": "hi"}),
    "background": (
        "/v1/responses",
        lambda model: {"model": model, "input": "hi", "background": True},
    ),
    "batch": (
        "/v1/messages/batches",
        lambda model: {"requests": [{"custom_id": "a", "params": _message(model)}]},
    ),
    "async_task": ("/v1/chat/completions", lambda model: {**_message(model), "async": True}),
}


@pytest.mark.parametrize("door", list(SIDE_DOORS))
def test_the_other_endpoints_do_not_tell_configured_models_from_unknown_ones(
    gateway: Gateway, door: str
) -> None:
    """Count tokens, background responses, batches and async tasks check the key before
    the model, as the synchronous calls do."""
    path, body = SIDE_DOORS[door]
    configured = _post(gateway, path, body("gemini-2.5-flash"))
    unknown = _post(gateway, path, body("no-such-model"))
    assert configured.status_code == unknown.status_code, (configured.text, unknown.text)
    assert configured.status_code in (400, 403)  # a batch names the request that failed

    def shape(response: httpx.Response) -> str:
        body = re.sub(r"req_\w+|msg_\w+", "ID", response.text)
        return body.replace("gemini-2.5-flash", "MODEL").replace("no-such-model", "MODEL")

    assert shape(configured) == shape(unknown)
