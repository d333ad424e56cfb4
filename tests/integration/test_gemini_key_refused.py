"""Gemini refuses an unknown or expired API key with 400 INVALID_ARGUMENT (ErrorInfo
reason API_KEY_INVALID), not 401: that is the gateway's own credential, so the client
gets the 500 of any upstream credential failure, never 'API key not valid', which would
send it checking its own key. Streamed and not, in each client protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving
from tests.integration.servers import STATIC_KEY

MODEL = "gemini-bad-key"
HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
KEY_INVALID: Any = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}


def key_refused(path: str, body: bytes) -> Answer:
    return json_answer(KEY_INVALID, 400)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        key_refused,
        tmp_path_factory.mktemp("gemini-key-refused"),
        {"google": "gemini"},
        {MODEL: "provider: google, model: gemini-2.5-flash"},
    )


BODIES: Any = {
    "/v1/messages": {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"input": "hi"},
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("path", list(BODIES))
def test_a_refused_gemini_key_is_a_500(gateway: Gateway, path: str, stream: bool) -> None:
    body = {"model": MODEL, "stream": stream, **BODIES[path]}
    response = httpx.post(gateway.url + path, json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 500, response.text
    error = json.loads(response.text)["error"]
    assert error["type"] in ("api_error", "server_error")
    assert "credentials" in error["message"]
    assert "API key not valid" not in response.text
