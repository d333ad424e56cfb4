"""A Gemini answer with parts the gateway cannot carry (an inlineData image, executableCode
and codeExecutionResult, fileData) drops them with a warning in `polyrelay-warnings`,
streamed as not (streamed, it dropped them silently), and once however many there are.
Raw HTTP and an official SDK → a real gateway → an upstream serving these exact bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving, sse, stream_answer
from tests.integration.servers import STATIC_KEY

MODEL = "gemini-parts"
WARNING = "gemini returned a non-text part; it was dropped"
_IMAGE = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
_FILE = {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.example/a.pdf"}}
_CODE = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
_RESULT = {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}}
_USAGE = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}


def _candidate(*parts: Any, finish: str | None = None) -> Any:
    candidate: Any = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": _USAGE}


def _answering(path: str, body: bytes) -> Answer:
    del body
    if path.endswith(":streamGenerateContent"):
        chunks = [
            _candidate({"text": "Here"}, _IMAGE),
            _candidate(_CODE, _RESULT),
            _candidate(_FILE, {"text": " it is"}, finish="STOP"),
        ]
        return stream_answer(b"".join(sse(chunk) for chunk in chunks))
    parts = [{"text": "Here"}, _IMAGE, _CODE, _RESULT, _FILE, {"text": " it is"}]
    return json_answer(_candidate(*parts, finish="STOP"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        _answering,
        tmp_path_factory.mktemp("gemini-parts"),
        {"google": "gemini"},
        {MODEL: "provider: google, model: gemini-2.5-flash"},
    )


HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
BODIES: Any = {
    "/v1/messages": {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"input": "hi"},
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("path", list(BODIES))
def test_dropped_parts_are_warned_once(gateway: Gateway, path: str, stream: bool) -> None:
    body = {"model": MODEL, "stream": stream, **BODIES[path]}
    response = httpx.post(gateway.url + path, json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["polyrelay-warnings"] == WARNING
    assert "Here" in response.text and "it is" in response.text


def test_the_sdk_reads_the_streamed_text(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    stream = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert stream.headers["polyrelay-warnings"] == WARNING
    chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Here it is"
