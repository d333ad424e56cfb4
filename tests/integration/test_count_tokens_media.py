"""POST /v1/messages/count_tokens applies the media rules of /v1/messages for the same model:
a private or metadata URL is refused before anything goes upstream (it relayed them to an
Anthropic upstream untouched), a URL the upstream cannot fetch is fetched by the gateway
(a Gemini count with an image URL was a 400), and a converted part is what is counted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.media_helpers import PDF_B64, PNG, FileServer
from tests.integration.servers import gateway_config

EXTRA = 'fetch: {allow: ["127.0.0.1/32"], connect_timeout: 2, read_timeout: 5}\n'
TEXT_PDF_MODEL = (
    "  claude-text-pdf: {provider: emu-anthropic, model: claude-sonnet-4-5, pdf: false}\n"
)
METADATA_IMAGE = {
    "type": "image",
    "source": {"type": "url", "url": "http://169.254.169.254/latest/meta-data/x.png"},
}
PRIVATE_PDF = {"type": "document", "source": {"type": "url", "url": "http://10.0.0.7/internal.pdf"}}
PUBLIC_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}


@pytest.fixture(scope="module")
def media_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("count-tokens-media")
    text = gateway_config(emulator.url, workdir / "polyrelay.db", extra=EXTRA)
    config = workdir / "polyrelay.yaml"
    config.write_text(text.replace("models:\n", "models:\n" + TEXT_PDF_MODEL, 1))
    yield from serving_config(config)


def _post(gateway: Gateway, api_key: str, path: str, model: str, content: list[Any]) -> Any:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if path == "/v1/messages":
        body["max_tokens"] = 16
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)


def _count(gateway: Gateway, api_key: str, model: str, content: list[Any]) -> Any:
    return _post(gateway, api_key, "/v1/messages/count_tokens", model, content)


@pytest.mark.parametrize("part", [METADATA_IMAGE, PRIVATE_PDF], ids=["metadata", "private"])
def test_a_refused_url_is_refused_by_count_tokens_too(
    media_gateway: Gateway, emulator: Emulator, api_key: str, part: dict[str, Any]
) -> None:
    content = [part, {"type": "text", "text": "hi"}]
    emulator.clear()
    created = _post(media_gateway, api_key, "/v1/messages", "claude-sonnet-4-5", content)
    counted = _count(media_gateway, api_key, "claude-sonnet-4-5", content)
    assert created.status_code == counted.status_code == 400, counted.text
    assert counted.json()["type"] == "error"
    assert counted.json()["error"] == created.json()["error"]
    assert "URL refused" in counted.json()["error"]["message"]
    assert emulator.requests() == []  # neither went upstream


def test_a_passed_through_url_is_relayed_as_sent(
    media_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    counted = _count(
        media_gateway, api_key, "claude-sonnet-4-5", [PUBLIC_IMAGE, {"type": "text", "text": "a b"}]
    )
    assert counted.status_code == 200, counted.text
    sent = emulator.last()
    assert sent["path"].endswith("/count_tokens")
    assert sent["body"]["messages"][0]["content"][0] == PUBLIC_IMAGE


def test_a_gemini_count_takes_an_image_url_as_messages_does(
    media_gateway: Gateway, emulator: Emulator, api_key: str, files: FileServer
) -> None:
    image = {"type": "image", "source": {"type": "url", "url": files.url + "/img.png"}}
    content = [image, {"type": "text", "text": "what is this"}]
    created = _post(media_gateway, api_key, "/v1/messages", "gemini-2.5-flash", content)
    assert created.status_code == 200, created.text
    emulator.clear()
    counted = _count(media_gateway, api_key, "gemini-2.5-flash", content)
    assert counted.status_code == 200, counted.text
    sent = emulator.last()
    assert sent["path"].endswith(":countTokens")
    inline = [part["inlineData"] for part in _parts(sent["body"]) if "inlineData" in part]
    assert [base64.b64decode(data["data"]) for data in inline] == [PNG]


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    request = body.get("generateContentRequest", body)
    return [part for turn in request["contents"] for part in turn["parts"]]


def test_a_pdf_counted_for_a_text_only_model_is_its_text(
    media_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
    }
    emulator.clear()
    counted = _count(
        media_gateway, api_key, "claude-text-pdf", [pdf, {"type": "text", "text": "x"}]
    )
    assert counted.status_code == 200, counted.text
    [block, text] = emulator.last()["body"]["messages"][0]["content"]
    assert block["type"] == "document" and block["source"]["type"] == "text"
    assert "Revenue grew by twelve percent." in block["source"]["data"]
    assert text == {"type": "text", "text": "x"}
