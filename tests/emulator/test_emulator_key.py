"""An emulator made with `api_key` (the one the gateway mounts in its offline default)
answers only requests that carry it, where each provider's SDK puts it; the standalone
emulator (no `api_key`) takes any key, as the other emulator tests show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors, types
from starlette.applications import Starlette
from starlette.routing import Mount

from polyrelay.emulator import create_emulator_app

SECRET = "emulator-secret-" + "x" * 32
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def base(emulator_server_class: Any) -> Iterator[str]:
    mounted = create_emulator_app(api_key=SECRET)
    server = emulator_server_class(app=Starlette(routes=[Mount("/_up/emu", app=mounted)]))
    server.start()
    yield f"{server.base_url}/_up/emu"
    server.stop()


def _gemini(base: str, key: str) -> genai.Client:
    options = types.HttpOptions(
        base_url=base + "/", retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=key, http_options=options)


def test_each_sdk_gets_in_with_the_key(base: str) -> None:
    chat = openai.OpenAI(api_key=SECRET, base_url=f"{base}/v1", max_retries=0)
    reply = chat.chat.completions.create(model="m", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "You said: hello"
    messages = anthropic.Anthropic(api_key=SECRET, base_url=base, max_retries=0)
    answer = messages.messages.create(model="m", max_tokens=9, messages=HELLO)  # type: ignore[arg-type]
    assert answer.content[0].text == "You said: hello"  # type: ignore[union-attr]
    gemini = _gemini(base, SECRET)  # kept: the client closes its connections when dropped
    assert gemini.models.generate_content(model="gemini-x", contents="hello").text == (
        "You said: hello"
    )
    by_query = httpx.post(
        f"{base}/v1beta/models/g:generateContent?key={SECRET}",
        json={"contents": [{"parts": [{"text": "q"}]}]},
    )
    assert by_query.status_code == 200


@pytest.mark.parametrize("key", ["wrong", SECRET[:-1], SECRET + "x"])
def test_each_sdk_is_refused_without_it_in_its_own_error(base: str, key: str) -> None:
    chat = openai.OpenAI(api_key=key, base_url=f"{base}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        chat.chat.completions.create(model="m", messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_api_key"
    messages = anthropic.Anthropic(api_key=key, base_url=base, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        messages.messages.create(model="m", max_tokens=9, messages=HELLO)  # type: ignore[arg-type]
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    gemini = _gemini(base, key)
    with pytest.raises(genai_errors.ClientError) as forbidden:
        gemini.models.generate_content(model="gemini-x", contents="hello")
    assert forbidden.value.code == 403 and forbidden.value.status == "PERMISSION_DENIED"


def test_the_request_log_needs_the_key_too(base: str) -> None:
    log = f"{base}/_emulator/requests"
    for method in ("GET", "DELETE"):
        assert httpx.request(method, log).status_code == 401
        bad = httpx.request(method, log, headers={"authorization": "Bearer wrong"})
        assert bad.status_code == 401
    for path in ("/", "/v1/models", "/v1beta/models"):
        assert httpx.get(base + path).status_code in (401, 403)
    seen = httpx.get(log, headers={"authorization": f"Bearer {SECRET}"})
    assert seen.status_code == 200 and "requests" in seen.json()
    cleared = httpx.delete(log, headers={"x-api-key": SECRET})
    assert cleared.json() == {"cleared": True}
