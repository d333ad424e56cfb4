"""Images and documents from every client protocol, by base64 and by URL, to every upstream
type: what the upstream received (native block, inlined after a gateway fetch, or text),
and the 400s and 413s for what must be refused.

The URLs are served by a local HTTP server on 127.0.0.1, which this module's gateway
allow-lists (`fetch.allow`); a URL passed through to an upstream that fetches URLs itself
must not be fetched by the gateway, so the server sees no request then.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from polyrelay.pipeline.media import document_header
from tests.integration.conftest import Emulator
from tests.integration.media_helpers import (
    CSV,
    JPEG,
    NOTES,
    PAGES,
    PDF_B64,
    PNG_B64,
    FileServer,
    Seen,
    received,
)
from tests.integration.servers import (
    MODELS_BY_PROVIDER,
    STATIC_KEY,
    free_port,
    gateway_config,
    start,
    stop,
)

PROVIDERS = list(MODELS_BY_PROVIDER)
MAX_FETCH = 1_000_000
MAX_BODY = 2_000_000
EXTRA_MODELS = """\
  text-only: {provider: emu-openai, model: gpt-4o-mini, pdf: false}
  blind: {provider: emu-openai, model: gpt-4o-mini, vision: false}
  blind-gemini: {provider: emu-gemini, model: gemini-2.5-flash, vision: false}
"""
EXTRA = f"""\
max_body_bytes: {MAX_BODY}
fetch: {{allow: ["127.0.0.1/32"], max_bytes: {MAX_FETCH}, connect_timeout: 2, read_timeout: 5}}
"""
PATHS = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
}


@pytest.fixture(scope="module")
def media_gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("media-gateway")
    text = gateway_config(emulator.url, workdir / "polyrelay.db", extra=EXTRA)
    text = text.replace("models:\n", "models:\n" + EXTRA_MODELS, 1)
    config = workdir / "polyrelay.yaml"
    config.write_text(text)
    url = f"http://127.0.0.1:{free_port()}"
    proc = start(
        ["serve", "--config", str(config), "--port", url.rsplit(":", 1)[1]],
        url + "/",
        workdir / "gateway.log",
    )
    yield url
    stop(proc)


def send(gateway: str, protocol: str, model: str, parts: list[Any], **extra: Any) -> httpx.Response:
    if protocol == "chat":
        body: dict[str, Any] = {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}]
        }
    elif protocol == "messages":
        body = {
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}],
        }
    else:
        body = {
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "look"}, *parts]}]
        }
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    return httpx.post(
        gateway + PATHS[protocol],
        json={"model": model, **body, **extra},
        headers=headers,
        timeout=30,
    )


def error_message(protocol: str, response: httpx.Response) -> str:
    body = response.json()
    if protocol == "messages":
        assert body["type"] == "error"
        assert body["error"]["type"] in ("invalid_request_error", "request_too_large")
    else:
        assert set(body["error"]) >= {"message", "type"}
    message: str = body["error"]["message"]
    return message


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def data_url(media_type: str, payload: str) -> str:
    return f"data:{media_type};base64,{payload}"


# -- the matrix ---------------------------------------------------------------------------

IMAGE = ("image-data", "image/png", PNG_B64)
PDF_INLINE = ("pdf-data", PDF_B64)
FETCHES = ("gemini",)  # upstream types for which the gateway fetches image URLs


def image_by_url(provider: str, base: str) -> tuple[Seen, str | None]:
    if provider in FETCHES:
        return IMAGE, "/img.png"
    return ("image-url", base + "/img.png"), None


def pdf_by_url(provider: str, base: str) -> tuple[Seen, str | None]:
    if provider in ("anthropic", "openai-responses"):
        return ("pdf-url", base + "/doc.pdf"), None
    return PDF_INLINE, "/doc.pdf"


def text_document(name: str | None, media_type: str, text: str) -> Callable[[str], Seen]:
    def expect(provider: str) -> Seen:
        if provider == "anthropic":
            return ("doc-text", text)
        return ("text", f"{document_header(name, media_type)}\n{text}")

    return expect


Part = Callable[[str], Any]
Expect = Callable[[str, str], tuple[Seen, str | None]]


def inline(seen: Seen | Callable[[str], Seen]) -> Expect:
    return lambda provider, _base: (seen(provider) if callable(seen) else seen, None)


def fetched_text(path: str, seen: Callable[[str], Seen]) -> Expect:
    return lambda provider, _base: (seen(provider), path)


FORMS: dict[str, tuple[str, Part, Expect]] = {
    "chat-image-url": (
        "chat",
        lambda base: {"type": "image_url", "image_url": {"url": base + "/img.png"}},
        image_by_url,
    ),
    "chat-image-data-url": (
        "chat",
        lambda _: {"type": "image_url", "image_url": {"url": data_url("image/png", PNG_B64)}},
        inline(IMAGE),
    ),
    "chat-file-pdf": (
        "chat",
        lambda _: {
            "type": "file",
            "file": {"file_data": data_url("application/pdf", PDF_B64), "filename": "r.pdf"},
        },
        inline(PDF_INLINE),
    ),
    "chat-file-markdown": (
        "chat",
        lambda _: {
            "type": "file",
            "file": {"file_data": data_url("text/markdown", b64(NOTES)), "filename": "notes.md"},
        },
        inline(text_document("notes.md", "text/markdown", NOTES)),
    ),
    "messages-image-base64": (
        "messages",
        lambda _: {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
        },
        inline(IMAGE),
    ),
    "messages-image-url": (
        "messages",
        lambda base: {"type": "image", "source": {"type": "url", "url": base + "/img.png"}},
        image_by_url,
    ),
    "messages-document-pdf-base64": (
        "messages",
        lambda _: {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        },
        inline(PDF_INLINE),
    ),
    "messages-document-url": (
        "messages",
        lambda base: {"type": "document", "source": {"type": "url", "url": base + "/doc.pdf"}},
        pdf_by_url,
    ),
    "messages-document-text": (
        "messages",
        lambda _: {
            "type": "document",
            "title": "memo",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain words"},
        },
        inline(text_document("memo", "text/plain", "plain words")),
    ),
    "messages-file-image": (
        "messages",
        lambda _: {
            "type": "file",
            "media_type": "image/png",
            "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
        },
        inline(IMAGE),
    ),
    "messages-file-pdf": (
        "messages",
        lambda _: {
            "type": "file",
            "media_type": "application/pdf",
            "filename": "r.pdf",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        },
        inline(PDF_INLINE),
    ),
    "messages-file-data-csv": (
        "messages",
        lambda _: {
            "type": "file_data",
            "media_type": "text/csv",
            "data": b64(CSV),
            "filename": "t.csv",
        },
        inline(text_document("t.csv", "text/csv", CSV)),
    ),
    "messages-file-url-markdown": (
        "messages",
        lambda base: {
            "type": "file",
            "media_type": "text/markdown",
            "filename": "notes.md",
            "source": {"type": "url", "url": base + "/notes.md"},
        },
        fetched_text("/notes.md", text_document("notes.md", "text/markdown", NOTES)),
    ),
    "messages-file-data-image": (
        "messages",
        lambda _: {"type": "file_data", "media_type": "image/png", "data": PNG_B64},
        inline(IMAGE),
    ),
    "responses-image-url": (
        "responses",
        lambda base: {"type": "input_image", "image_url": base + "/img.png"},
        image_by_url,
    ),
    "responses-image-data-url": (
        "responses",
        lambda _: {"type": "input_image", "image_url": data_url("image/png", PNG_B64)},
        inline(IMAGE),
    ),
    "responses-file-data": (
        "responses",
        lambda _: {
            "type": "input_file",
            "file_data": data_url("application/pdf", PDF_B64),
            "filename": "r.pdf",
        },
        inline(PDF_INLINE),
    ),
    "responses-file-url": (
        "responses",
        lambda base: {"type": "input_file", "file_url": base + "/doc.pdf"},
        pdf_by_url,
    ),
    "responses-file-url-markdown": (
        "responses",
        lambda base: {"type": "input_file", "file_url": base + "/notes.md", "filename": "notes.md"},
        fetched_text("/notes.md", text_document("notes.md", "text/markdown", NOTES)),
    ),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("form", list(FORMS))
def test_media_form_reaches_upstream(
    media_gateway: str, emulator: Emulator, files: FileServer, form: str, provider: str
) -> None:
    protocol, part, expect = FORMS[form]
    files.hits.clear()
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER[provider], [part(files.url)])
    assert response.status_code == 200, response.text
    seen, fetched = expect(provider, files.url)
    assert received(provider, emulator.last()["body"]) == [("text", "look"), seen]
    # A URL the upstream fetches itself is never fetched by the gateway.
    assert files.hits == ([fetched] if fetched else [])


# -- PDFs for a text-only model ----------------------------------------------------------


def assert_pages(text: str) -> None:
    positions = []
    for number, (title, body) in enumerate(PAGES, start=1):
        marker = f"--- Page {number} of {len(PAGES)} ---"
        assert marker in text and title in text and body in text
        positions += [text.index(marker), text.index(title), text.index(body)]
    assert positions == sorted(positions), "pages out of order"


@pytest.mark.parametrize(
    ("protocol", "part"),
    [
        (
            "chat",
            lambda _: {
                "type": "file",
                "file": {"file_data": data_url("application/pdf", PDF_B64), "filename": "r.pdf"},
            },
        ),
        (
            "messages",
            lambda _: {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
            },
        ),
        (
            "messages",
            lambda base: {"type": "document", "source": {"type": "url", "url": base + "/doc.pdf"}},
        ),
        (
            "responses",
            lambda base: {"type": "input_file", "file_url": base + "/doc.pdf", "filename": "r.pdf"},
        ),
    ],
    ids=["chat-base64", "messages-base64", "messages-url", "responses-url"],
)
def test_pdf_reaches_text_only_model_page_by_page(
    media_gateway: str, emulator: Emulator, files: FileServer, protocol: str, part: Part
) -> None:
    response = send(media_gateway, protocol, "text-only", [part(files.url)])
    assert response.status_code == 200, response.text
    assert "extracted text" in response.headers["polyrelay-warnings"]
    content = emulator.last()["body"]["messages"][-1]["content"]
    texts = [p["text"] for p in content if p["type"] == "text"]
    assert texts[0] == "look" and len(texts) == 2
    assert texts[1].startswith("Document")
    assert_pages(texts[1])
    assert all(p["type"] == "text" for p in content), "no PDF block may reach a text-only model"


# -- refusals -----------------------------------------------------------------------------

ALL_PROTOCOLS = ["chat", "messages", "responses"]


def image_url_part(protocol: str, url: str) -> Any:
    if protocol == "chat":
        return {"type": "image_url", "image_url": {"url": url}}
    if protocol == "messages":
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "input_image", "image_url": url}


def image_data_part(protocol: str, media_type: str, payload: str) -> Any:
    if protocol == "messages":
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": payload},
        }
    url = data_url(media_type, payload)
    if protocol == "chat":
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "input_image", "image_url": url}


def file_data_part(protocol: str, media_type: str, payload: str) -> Any:
    if protocol == "messages":
        return {"type": "file_data", "media_type": media_type, "data": payload}
    if protocol == "chat":
        return {"type": "file", "file": {"file_data": data_url(media_type, payload)}}
    return {"type": "input_file", "file_data": data_url(media_type, payload), "filename": "x"}


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.7/a.png", "10.0.0.7, a private address"),
        ("http://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("http://[::ffff:192.168.1.1]/a.png", "IPv4-mapped"),
        ("http://2130706434/a.png", "127.0.0.2, a loopback address"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
def test_private_url_is_refused_in_client_protocol(
    media_gateway: str, emulator: Emulator, protocol: str, url: str, reason: str
) -> None:
    emulator.clear()
    response = send(
        media_gateway, protocol, MODELS_BY_PROVIDER["gemini"], [image_url_part(protocol, url)]
    )
    assert response.status_code == 400, response.text
    message = error_message(protocol, response)
    if protocol == "chat" and url.startswith("file:"):
        assert "expected an https URL" in message  # the Chat decoder refuses it first
    else:
        assert "URL refused" in message and reason in message
    assert emulator.requests() == []


@pytest.mark.parametrize("protocol", ["chat", "responses"])
def test_refusal_names_the_clients_own_field(media_gateway: str, protocol: str) -> None:
    """A system message (Chat) or an `input` item (Responses) before the image: the error
    names the field the client sent, not the gateway's own message index."""
    image = image_url_part(protocol, "http://10.0.0.7/a.png")
    turns: list[Any] = [
        {"role": "system" if protocol == "chat" else "developer", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, image]},
    ]
    if protocol == "chat":
        body: dict[str, Any] = {"messages": turns}
        field = "messages[3].content[1]"
    else:
        turns[3]["content"][0]["type"] = "input_text"
        body = {"input": turns}
        field = "input[3].content[1]"
    response = httpx.post(
        media_gateway + PATHS[protocol],
        json={"model": MODELS_BY_PROVIDER["gemini"], **body},
        headers={"authorization": f"Bearer {STATIC_KEY}"},
        timeout=30,
    )
    assert response.status_code == 400
    assert error_message(protocol, response).startswith(f"{field}: URL refused")
    assert response.json()["error"]["param"] == field


def test_refusal_in_a_tool_output_names_the_clients_own_field(media_gateway: str) -> None:
    output = [
        {"type": "input_text", "text": "here"},
        {"type": "input_image", "image_url": "http://10.0.0.7/a.png"},
    ]
    body = {
        "model": MODELS_BY_PROVIDER["gemini"],
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "get", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "none"},
            {"type": "function_call_output", "call_id": "c2", "output": output},
        ],
        "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}],
    }
    response = httpx.post(
        media_gateway + PATHS["responses"],
        json=body,
        headers={"authorization": f"Bearer {STATIC_KEY}"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input[4].output[1]"


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_passed_through_urls_are_still_checked(media_gateway: str, provider: str) -> None:
    # The upstream would fetch it, and a self-hosted one would do so from inside the network.
    part = image_url_part("chat", "http://192.168.0.10/cam.jpg")
    response = send(media_gateway, "chat", MODELS_BY_PROVIDER[provider], [part])
    assert response.status_code == 400
    assert "192.168.0.10, a private address" in error_message("chat", response)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_fetch_above_cap_is_cut_off(media_gateway: str, files: FileServer, protocol: str) -> None:
    part = image_url_part(protocol, files.url + "/big.png")
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER["gemini"], [part])
    assert response.status_code == 400
    assert f"larger than the {MAX_FETCH}-byte limit" in error_message(protocol, response)


def test_fetched_content_type_must_match(media_gateway: str, files: FileServer) -> None:
    part = image_url_part("chat", files.url + "/notes.md")
    response = send(media_gateway, "chat", MODELS_BY_PROVIDER["gemini"], [part])
    assert response.status_code == 400
    assert "returned text/markdown, expected image/" in error_message("chat", response)


def test_fetched_bytes_must_match_their_type(media_gateway: str, files: FileServer) -> None:
    part = image_url_part("messages", files.url + "/lying.png")
    response = send(media_gateway, "messages", MODELS_BY_PROVIDER["gemini"], [part])
    assert response.status_code == 400
    assert "declared image/png, but the bytes are a JPEG image" in error_message(
        "messages", response
    )


def document_url_part(protocol: str, url: str) -> Any:
    if protocol == "messages":
        return {"type": "document", "source": {"type": "url", "url": url}}
    return {"type": "input_file", "file_url": url}


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_unlabelled_image_download_is_typed_by_its_bytes(
    media_gateway: str, emulator: Emulator, files: FileServer, protocol: str
) -> None:
    # Object stores serve uploads as application/octet-stream: the PNG signature decides.
    part = image_url_part(protocol, files.url + "/octet.png")
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER["gemini"], [part])
    assert response.status_code == 200, response.text
    assert received("gemini", emulator.last()["body"]) == [("text", "look"), IMAGE]


@pytest.mark.parametrize("protocol", ["messages", "responses"])
@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_untyped_document_download_is_typed_by_its_bytes(
    media_gateway: str, emulator: Emulator, files: FileServer, protocol: str, provider: str
) -> None:
    part = document_url_part(protocol, files.url + "/untyped-pdf")
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER[provider], [part])
    assert response.status_code == 200, response.text
    assert received(provider, emulator.last()["body"]) == [("text", "look"), PDF_INLINE]


def test_unlabelled_bytes_of_no_known_type_are_refused(
    media_gateway: str, files: FileServer
) -> None:
    part = document_url_part("messages", files.url + "/octet.bin")
    response = send(media_gateway, "messages", MODELS_BY_PROVIDER["openai"], [part])
    assert response.status_code == 400
    message = error_message("messages", response)
    assert "unsupported media type 'application/octet-stream'; allowed: application/pdf" in message


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bad_base64_is_refused(media_gateway: str, protocol: str, provider: str) -> None:
    part = image_data_part(protocol, "image/png", "iVBOR@@not-base64")
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER[provider], [part])
    assert response.status_code == 400
    assert "not valid base64" in error_message(protocol, response)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_unsupported_media_type_lists_the_allowed(media_gateway: str, protocol: str) -> None:
    part = file_data_part(protocol, "application/zip", b64("PK"))
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER["openai"], [part])
    assert response.status_code == 400
    message = error_message(protocol, response)
    assert "application/zip" in message
    assert "application/pdf, text/plain, text/markdown, text/csv, image/png" in message


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_bytes_not_matching_declared_type_are_refused(media_gateway: str, protocol: str) -> None:
    part = image_data_part(protocol, "image/png", base64.b64encode(JPEG).decode())
    response = send(media_gateway, protocol, MODELS_BY_PROVIDER["anthropic"], [part])
    assert response.status_code == 400
    message = error_message(protocol, response)
    assert "declared image/png, but the bytes are a JPEG image" in message
    field = "input[0].content[1]" if protocol == "responses" else "messages[0].content[1]"
    assert message.startswith(field)  # the client's own field name


@pytest.mark.parametrize("model", ["blind", "blind-gemini"])
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_image_for_model_without_vision_is_refused(
    media_gateway: str, protocol: str, model: str
) -> None:
    response = send(
        media_gateway, protocol, model, [image_data_part(protocol, "image/png", PNG_B64)]
    )
    assert response.status_code == 400
    message = error_message(protocol, response)
    assert f"the model '{model}' does not accept images" in message


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_oversized_body_is_413_in_client_protocol(media_gateway: str, protocol: str) -> None:
    words = "x" * (MAX_BODY + 1024)
    response = send(
        media_gateway, protocol, MODELS_BY_PROVIDER["openai"], [], metadata_padding=words
    )
    assert response.status_code == 413
    assert f"larger than the limit of {MAX_BODY} bytes" in error_message(protocol, response)
    error = response.json()["error"]
    assert (error["type"] if protocol == "messages" else error["code"]) == "request_too_large"


def test_media_in_tool_results_is_converted(
    media_gateway: str, emulator: Emulator, files: FileServer
) -> None:
    messages = [
        {"role": "user", "content": "fetch it"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "text", "text": "here"},
                        {"type": "image", "source": {"type": "url", "url": files.url + "/img.png"}},
                    ],
                }
            ],
        },
    ]
    tools = [{"name": "get", "description": "get", "input_schema": {"type": "object"}}]
    body = {
        "model": MODELS_BY_PROVIDER["gemini"],
        "max_tokens": 64,
        "messages": messages,
        "tools": tools,
    }
    response = httpx.post(
        media_gateway + "/v1/messages", json=body, headers={"x-api-key": STATIC_KEY}, timeout=30
    )
    assert response.status_code == 200, response.text
    parts = emulator.last()["body"]["contents"][-1]["parts"]
    assert {"mimeType": "image/png", "data": PNG_B64} in [p.get("inlineData") for p in parts]


def test_streamed_request_gets_the_fetched_image(
    media_gateway: str, emulator: Emulator, files: FileServer
) -> None:
    files.hits.clear()
    part = image_url_part("chat", files.url + "/img.png")
    with httpx.stream(
        "POST",
        media_gateway + PATHS["chat"],
        json={
            "model": MODELS_BY_PROVIDER["gemini"],
            "stream": True,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, part]}],
        },
        headers={"authorization": f"Bearer {STATIC_KEY}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert "data: [DONE]" in text
    assert received("gemini", emulator.last()["body"]) == [("text", "look"), IMAGE]
    assert files.hits == ["/img.png"]
