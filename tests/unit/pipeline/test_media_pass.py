"""The media pass on IR requests, with a fake fetcher: which form each upstream gets,
when the fast path closes, and how failures name the part."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from tests.integration.media_helpers import PAGES, PDF, PDF_B64, PNG, PNG_B64
from tests.unit.builders import route as build_route

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.client import FetchResult
from polyrelay.fetch.policy import AddressPolicy
from polyrelay.fetch.settings import FetchSettings
from polyrelay.fetch.url import check_url
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Role,
    TextPart,
    ToolResultPart,
)
from polyrelay.media import PdfTextReader
from polyrelay.media.settings import MediaSettings
from polyrelay.pipeline.media import MediaReaders, document_header, media_policy, prepare_media
from polyrelay.providers import Capabilities, Route

ANTHROPIC = Capabilities(image_urls=True, document_urls=True, text_documents=True)
OPENAI = Capabilities(image_urls=True)
GEMINI = Capabilities()


class FakeFetcher:
    def __init__(self, files: dict[str, tuple[str, bytes]] | None = None, **limits: int) -> None:
        self.files = files or {}
        self.fetched: list[tuple[str, list[str] | None]] = []
        self.settings = FetchSettings(**limits)

    def check_url(self, url: str) -> None:
        check_url(url, AddressPolicy())

    async def fetch(self, url: str, *, accept: Any = None) -> FetchResult:
        self.fetched.append((url, list(accept) if accept is not None else None))
        self.check_url(url)
        content_type, body = self.files[url]
        if accept is not None and content_type not in accept:
            raise InvalidRequestError(f"URL refused: {url} returned {content_type}")
        return FetchResult(url=url, status=200, content_type=content_type, body=body)


def route(
    *, vision: bool = True, model_pdf: bool | None = None, provider_pdf: bool | None = None
) -> Route:
    return build_route(
        "openai", base_url="http://x/v1", provider_pdf=provider_pdf, vision=vision, pdf=model_pdf
    )


def request(*parts: Any) -> ChatRequest:
    return ChatRequest(
        model="m", messages=(Message(role=Role.USER, parts=(TextPart(text="hi"), *parts)),)
    )


def run(
    chat: ChatRequest,
    caps: Capabilities = GEMINI,
    fetcher: FakeFetcher | None = None,
    the_route: Route | None = None,
    ctx: RequestContext | None = None,
) -> ChatRequest:
    async def main() -> ChatRequest:
        pdf = PdfTextReader(MediaSettings())
        readers = MediaReaders(fetcher or FakeFetcher(), pdf)  # type: ignore[arg-type]
        try:
            return await prepare_media(
                chat, the_route or route(), caps, readers, ctx or RequestContext()
            )
        finally:
            await pdf.close()

    return asyncio.run(main())


def last_parts(chat: ChatRequest) -> tuple[Any, ...]:
    return chat.messages[-1].parts[1:]


def test_native_inline_parts_keep_the_request_and_the_fast_path() -> None:
    chat = request(
        ImagePart(media_type="image/png", data=PNG_B64),
        DocumentPart(media_type="application/pdf", data=PDF_B64),
    )
    ctx = RequestContext()
    assert run(chat, OPENAI, ctx=ctx) is chat
    assert ctx.passthrough_ok


def test_request_without_media_is_untouched() -> None:
    chat = request()
    assert run(chat) is chat


def test_converted_part_closes_the_fast_path() -> None:
    ctx = RequestContext()
    doc = DocumentPart(
        media_type="text/csv", data=base64.b64encode(b"a,b\n").decode(), filename="t.csv"
    )
    out = run(request(doc), OPENAI, ctx=ctx)
    assert last_parts(out) == (TextPart(text=f"{document_header('t.csv', 'text/csv')}\na,b\n"),)
    assert not ctx.passthrough_ok


def test_text_documents_stay_documents_where_the_upstream_takes_them() -> None:
    doc = DocumentPart(media_type="text/markdown", text="# T", title="readme")
    out = run(request(doc), ANTHROPIC)
    assert last_parts(out) == (DocumentPart(media_type="text/plain", text="# T", title="readme"),)


def test_image_url_passes_through_only_where_the_upstream_fetches() -> None:
    url = "https://images.example/cat.png"
    fetcher = FakeFetcher({url: ("image/png", PNG)})
    chat = request(ImagePart(url=url))
    assert run(chat, OPENAI, fetcher) is chat
    assert fetcher.fetched == []
    out = run(chat, GEMINI, fetcher)
    assert last_parts(out) == (ImagePart(media_type="image/png", data=PNG_B64),)
    assert fetcher.fetched == [(url, ["image/png", "image/jpeg", "image/gif", "image/webp"])]


def test_document_url_is_fetched_for_a_text_declared_type_even_where_urls_pass() -> None:
    url = "https://files.example/export"
    fetcher = FakeFetcher({url: ("text/plain", b"x,y\n")})
    out = run(request(DocumentPart(url=url, filename="data.csv")), ANTHROPIC, fetcher)
    assert last_parts(out) == (
        DocumentPart(media_type="text/plain", text="x,y\n", title="data.csv"),
    )
    assert fetcher.fetched == [(url, ["text/csv", "text/plain"])]


def test_pdf_url_is_fetched_and_extracted_for_a_text_only_route() -> None:
    url = "https://files.example/r.pdf"
    fetcher = FakeFetcher({url: ("application/pdf", PDF)})
    ctx = RequestContext()
    out = run(request(DocumentPart(url=url)), ANTHROPIC, fetcher, route(model_pdf=False), ctx)
    (part,) = last_parts(out)
    assert isinstance(part, DocumentPart) and part.text is not None
    assert "--- Page 3 of 3 ---" in part.text and PAGES[2][1] in part.text
    assert any("extracted text" in w for w in ctx.warnings)


@pytest.mark.parametrize(
    ("model_pdf", "provider_pdf", "capability", "expected"),
    [
        (None, None, True, True),
        (None, False, True, False),
        (True, False, False, True),
        (None, None, False, False),
    ],
)
def test_pdf_setting_model_then_provider_then_type(
    model_pdf: bool | None, provider_pdf: bool | None, capability: bool, expected: bool
) -> None:
    caps = Capabilities(pdf=capability)
    assert media_policy(route(model_pdf=model_pdf, provider_pdf=provider_pdf), caps).pdf is expected


def test_image_given_as_document_becomes_an_image() -> None:
    out = run(request(DocumentPart(media_type="image/png", data=PNG_B64)), OPENAI)
    assert last_parts(out) == (ImagePart(media_type="image/png", data=PNG_B64),)


def test_data_url_in_a_url_field_is_inlined() -> None:
    out = run(request(ImagePart(url=f"data:image/png;base64,{PNG_B64}")), OPENAI)
    assert last_parts(out) == (ImagePart(media_type="image/png", data=PNG_B64),)


def test_tool_result_media_is_converted_in_place() -> None:
    url = "https://images.example/a.png"
    result = ToolResultPart(tool_call_id="c1", content=(TextPart(text="r"), ImagePart(url=url)))
    chat = ChatRequest(model="m", messages=(Message(role=Role.TOOL, parts=(result,)),))
    out = run(chat, GEMINI, FakeFetcher({url: ("image/png", PNG)}))
    (converted,) = out.messages[0].parts
    assert isinstance(converted, ToolResultPart)
    assert converted.content == (
        TextPart(text="r"),
        ImagePart(media_type="image/png", data=PNG_B64),
    )


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (
            ImagePart(media_type="image/png", data="%%%"),
            "messages[0].content[1].data: the data is not valid base64",
        ),
        (
            ImagePart(media_type="image/bmp", data=PNG_B64),
            "unsupported media type 'image/bmp'; allowed: application/pdf",
        ),
        (
            ImagePart(media_type="image/jpeg", data=PNG_B64),
            "declared image/jpeg, but the bytes are a PNG image",
        ),
        (ImagePart(media_type="application/pdf", data=PDF_B64), "an image must be one of"),
        (DocumentPart(media_type="application/pdf", text="x"), "a text source must be one of"),
        (
            DocumentPart(media_type="text/plain", data=base64.b64encode(b"\xff\xfe").decode()),
            "not UTF-8 text",
        ),
        (ImagePart(url="http://10.0.0.1/x.png"), "10.0.0.1, a private address"),
    ],
)
def test_bad_parts_are_400s_naming_the_part(part: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        run(request(part), OPENAI)
    assert message in info.value.message
    assert info.value.message.startswith("messages[0].content[1]")


def test_vision_false_refuses_images_and_image_documents() -> None:
    for part in (
        ImagePart(media_type="image/png", data=PNG_B64),
        DocumentPart(media_type="image/png", data=PNG_B64),
    ):
        with pytest.raises(InvalidRequestError, match="the model 'm' does not accept images"):
            run(request(part), OPENAI, the_route=route(vision=False))


def test_first_failure_of_several_is_raised() -> None:
    good = ImagePart(media_type="image/png", data=PNG_B64)
    bad = ImagePart(media_type="image/png", data="@@")
    with pytest.raises(InvalidRequestError, match=r"content\[2\]"):
        run(request(good, bad, good), OPENAI)


def test_a_long_conversation_of_converted_parts_is_rebuilt_in_linear_time() -> None:
    """Each message used to scan every replaced part: 20,000 documents, minutes."""
    doc = DocumentPart(media_type="text/markdown", text="# T", title="readme")
    messages = tuple(Message(role=Role.USER, parts=(doc,)) for _ in range(20_000))
    started = time.process_time()
    out = run(ChatRequest(model="m", messages=messages), ANTHROPIC)
    assert time.process_time() - started < 5
    converted = DocumentPart(media_type="text/plain", text="# T", title="readme")
    assert [m.parts for m in out.messages] == [(converted,)] * 20_000


def test_a_request_fetches_at_most_max_per_request_urls() -> None:
    files = {f"https://img.example/{i}.png": ("image/png", PNG) for i in range(3)}
    parts = [ImagePart(url=url) for url in files]
    fetcher = FakeFetcher(files, max_per_request=2)
    with pytest.raises(InvalidRequestError) as info:
        run(request(*parts), GEMINI, fetcher)
    assert "past the 2 URLs the gateway fetches for one request (fetch.max_per_request)" in (
        info.value.message
    )
    assert len(fetcher.fetched) == 2  # the third was never fetched
    out = run(request(*parts[:2]), GEMINI, FakeFetcher(files, max_per_request=2))
    assert all(isinstance(p, ImagePart) and p.data for p in last_parts(out))


def test_a_requests_fetches_add_up_to_at_most_max_total_bytes() -> None:
    files = {f"https://img.example/{i}.png": ("image/png", PNG) for i in range(2)}
    parts = [ImagePart(url=url) for url in files]
    with pytest.raises(InvalidRequestError) as info:
        run(request(*parts), GEMINI, FakeFetcher(files, max_total_bytes=len(PNG) + 1))
    assert info.value.message.endswith(
        f"add up to more than the {len(PNG) + 1}-byte limit (fetch.max_total_bytes)"
    )
    out = run(request(*parts), GEMINI, FakeFetcher(files, max_total_bytes=2 * len(PNG)))
    assert all(isinstance(p, ImagePart) and p.data for p in last_parts(out))
