"""The media pass: every image and document of a request, checked once and put in the best
form the routed upstream takes.

`Gateway.dispatch` runs it after routing and before the provider call, on the fast path
too, so a bad file is the same 400 whatever the route. For each image or document part
(in messages and in tool results):

- inline data: the media type is allowed, the base64 decodes, the bytes match the type;
- images: a 400 for a model with `vision: false`; a URL passes through to an upstream that
  fetches URLs itself (`Capabilities.image_urls`), else the gateway fetches and inlines it;
- PDFs stay native when the route reads PDFs (model `pdf:`, else provider `pdf:`, else
  `Capabilities.pdf`), else become text with page markers; a PDF URL passes through only to
  an upstream that fetches documents (`Capabilities.document_urls`) and reads PDFs;
- text, Markdown and CSV become a text part under a header line naming the document (an
  upstream with `Capabilities.text_documents` gets a plain-text document block instead).

Every fetch goes through the one `UrlFetcher`. URLs passed through are still checked
without I/O (scheme, port, literal private addresses), because an OpenAI-compatible
upstream on the local network would fetch them from inside it.

A part that changes means the client's raw body no longer says what goes upstream, so the
pass clears `ctx.passthrough_ok` and the request takes the IR path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NamedTuple

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, InvalidRequestError
from polyrelay.fetch.client import UrlFetcher
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    TextPart,
    ToolResultPart,
)
from polyrelay.media import (
    ALLOWED_MEDIA_TYPES,
    IMAGE_MEDIA_TYPES,
    TEXT_MEDIA_TYPES,
    PdfTextReader,
    check_bytes_match,
    check_media_type,
    decode_base64,
    decode_data_url,
    encode_base64,
    is_data_url,
    normalise_media_type,
    sniff,
    unlabelled,
)
from polyrelay.providers import Capabilities, Route

__all__ = ["MediaPolicy", "MediaReaders", "document_header", "media_policy", "prepare_media"]

PDF = "application/pdf"
_FETCH_CONCURRENCY = 4
_EXTENSIONS = {
    "pdf": PDF,
    "txt": "text/plain",
    "text": "text/plain",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


class MediaReaders(NamedTuple):
    """What the media pass reads with, one of each per gateway."""

    fetcher: UrlFetcher
    """The one hardened fetcher, for every URL."""
    pdf: PdfTextReader
    """The PDF worker processes, for routes that cannot read PDFs."""


class MediaPolicy(NamedTuple):
    """What the routed model takes, from its config and its provider's Capabilities."""

    model: str
    vision: bool
    pdf: bool
    image_urls: bool
    document_urls: bool
    text_documents: bool


def media_policy(route: Route, capabilities: Capabilities) -> MediaPolicy:
    pdf = route.model.pdf
    if pdf is None:
        pdf = route.provider.pdf
    if pdf is None:
        pdf = capabilities.pdf
    return MediaPolicy(
        model=route.public_model,
        vision=route.model.vision,
        pdf=pdf,
        image_urls=capabilities.image_urls,
        document_urls=capabilities.document_urls,
        text_documents=capabilities.text_documents,
    )


def document_header(name: str | None, media_type: str) -> str:
    """The line put above a document's text when it becomes a text part."""
    return f'Document "{name}" ({media_type}):' if name else f"Document ({media_type}):"


async def prepare_media(
    request: ChatRequest,
    route: Route,
    capabilities: Capabilities,
    readers: MediaReaders,
    ctx: RequestContext,
) -> ChatRequest:
    """`request` with every media part checked and converted for `route`; the same object
    when nothing changed (then the fast path stays open)."""
    jobs = _media_parts(request.messages, ctx)
    if not jobs:
        return request
    converter = _Converter(media_policy(route, capabilities), readers, ctx)
    results = await _run_all([converter.part(part, path) for _, part, path in jobs])
    replaced = {
        where: new for (where, old, _), new in zip(jobs, results, strict=True) if new is not old
    }
    if not replaced:
        return request
    ctx.passthrough_ok = False
    touched = {where[0] for where in replaced}  # a set: one scan of `replaced` per message
    messages = tuple(  # was quadratic in the parts of a long conversation
        _rebuild(i, m, replaced) if i in touched else m for i, m in enumerate(request.messages)
    )
    return msgspec.structs.replace(request, messages=messages)


_Where = tuple[int, int, int | None]
"""(message index, part index, index in the tool result's content or None)."""


def _media_parts(
    messages: tuple[Message, ...], ctx: RequestContext
) -> list[tuple[_Where, ImagePart | DocumentPart, str]]:
    jobs: list[tuple[_Where, ImagePart | DocumentPart, str]] = []
    # Every part of the history, on every request: exact-type checks (the parts are final
    # Structs), as a union isinstance costs 3x (90 -> 26 us for 152 messages).
    for i, message in enumerate(messages):
        for j, part in enumerate(message.parts):
            if type(part) is ImagePart or type(part) is DocumentPart:
                jobs.append(((i, j, None), part, f"{ctx.message_path(i)}.content[{j}]"))
            elif type(part) is ToolResultPart:
                for k, item in enumerate(part.content):
                    if type(item) is ImagePart or type(item) is DocumentPart:
                        path = f"{ctx.message_path(i, j)}[{k}]"
                        jobs.append(((i, j, k), item, path))
    return jobs


def _rebuild(index: int, message: Message, replaced: dict[_Where, MediaPart]) -> Message:
    parts = list(message.parts)
    for j, part in enumerate(parts):
        if isinstance(part, ToolResultPart):
            content = tuple(
                replaced.get((index, j, k), item) for k, item in enumerate(part.content)
            )
            if content != part.content:
                parts[j] = msgspec.structs.replace(part, content=content)
        elif (index, j, None) in replaced:
            parts[j] = replaced[(index, j, None)]
    return msgspec.structs.replace(message, parts=tuple(parts))


async def _run_all(jobs: list[Coroutine[Any, Any, MediaPart]]) -> list[MediaPart]:
    """Run the conversions concurrently; the first failure cancels the rest and is raised."""
    if len(jobs) == 1:
        return [await jobs[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job) for job in jobs]
    except BaseExceptionGroup as failures:
        first = failures.exceptions[0]
        gateway_errors = [e for e in failures.exceptions if isinstance(e, GatewayError)]
        raise (gateway_errors[0] if gateway_errors else first) from None
    return [task.result() for task in tasks]


class _Converter:
    """Per request: the policy, the readers, and a bound on concurrent fetches."""

    def __init__(self, policy: MediaPolicy, readers: MediaReaders, ctx: RequestContext) -> None:
        self.policy = policy
        self.fetcher = readers.fetcher
        self.pdf = readers.pdf
        self.pdf_budget = readers.pdf.budget()
        self.ctx = ctx
        self.slots = asyncio.Semaphore(_FETCH_CONCURRENCY)
        self.fetches = 0
        self.fetched_bytes = 0

    async def part(self, part: ImagePart | DocumentPart, path: str) -> MediaPart:
        if isinstance(part, ImagePart):
            return await self.image(part, path)
        return await self.document(part, path)

    # -- images -----------------------------------------------------------------------

    async def image(self, part: ImagePart, path: str) -> MediaPart:
        self.check_vision(path)
        if part.data is not None:
            media_type, _ = _inline(part.media_type, part.data, path)
            _require_image(media_type, path)
            same = media_type == part.media_type
            return part if same else msgspec.structs.replace(part, media_type=media_type)
        url = _require_url(part.url, path)
        if is_data_url(url):
            media_type, data = decode_data_url(url, field=path)
            _require_image(media_type, path)
            return ImagePart(media_type=media_type, data=encode_base64(data), detail=part.detail)
        if self.policy.image_urls:
            self.check_url(url, path)
            return part
        declared = _declared(part.media_type, None, path)  # image URLs often lie about type
        accept = [declared] if declared in IMAGE_MEDIA_TYPES else list(IMAGE_MEDIA_TYPES)
        media_type, data = await self.fetch(url, declared, accept, path)
        _require_image(media_type, path)
        return ImagePart(media_type=media_type, data=encode_base64(data), detail=part.detail)

    def check_vision(self, path: str) -> None:
        if not self.policy.vision:
            raise InvalidRequestError(
                f"{path}: the model '{self.policy.model}' does not accept images "
                "(configured with vision: false); remove the image or choose another model",
                param=path,
                code="images_not_supported",
            )

    # -- documents --------------------------------------------------------------------

    async def document(self, part: DocumentPart, path: str) -> MediaPart:
        if part.text is not None:
            media_type = normalise_media_type(part.media_type or "text/plain")
            if media_type not in TEXT_MEDIA_TYPES:
                check_media_type(media_type, field=f"{path}.media_type")
                raise InvalidRequestError(
                    f"{path}.media_type: a text source must be one of "
                    f"{', '.join(TEXT_MEDIA_TYPES)}, not {media_type}",
                    param=f"{path}.media_type",
                )
            return self.as_text(part, media_type, part.text)
        if part.data is not None:
            media_type, data = _inline(part.media_type, part.data, path)
            return await self.from_bytes(part, media_type, data, path, inline=True)
        url = _require_url(part.url, path)
        if is_data_url(url):
            media_type, data = decode_data_url(url, field=path)
            return await self.from_bytes(part, media_type, data, path, inline=False)
        declared = _declared(part.media_type, part.filename, path)
        if declared in IMAGE_MEDIA_TYPES:
            return await self.image(ImagePart(url=url, media_type=declared), path)
        guessed = declared or _declared(None, url, path)
        if self.policy.document_urls and self.policy.pdf and guessed in (None, PDF):
            self.check_url(url, path)
            return part
        accept = _document_accept(declared)
        media_type, data = await self.fetch(url, declared, accept, path)
        return await self.from_bytes(part, media_type, data, path, inline=False)

    async def from_bytes(
        self, part: DocumentPart, media_type: str, data: bytes, path: str, *, inline: bool
    ) -> MediaPart:
        """A document's checked bytes in the form the route takes (`inline`: `part` holds
        them as base64 already, so a native PDF can stay the very same part)."""
        if media_type in IMAGE_MEDIA_TYPES:
            self.check_vision(path)
            return ImagePart(media_type=media_type, data=encode_base64(data))
        if media_type != PDF:
            return self.as_text(part, media_type, data.decode("utf-8"))
        if not self.policy.pdf:
            text = await self.pdf.text(data, field=path, budget=self.pdf_budget)
            self.ctx.warn(
                f"a PDF was sent to {self.policy.model} as extracted text (the model is "
                "configured with pdf: false); images and layout in it were not carried"
            )
            return self.as_text(part, PDF, text)
        if inline and part.media_type == PDF:
            return part
        return DocumentPart(
            media_type=PDF, data=encode_base64(data), title=part.title, filename=part.filename
        )

    def as_text(self, part: DocumentPart, media_type: str, text: str) -> MediaPart:
        name = part.title or part.filename
        if self.policy.text_documents:
            native = DocumentPart(media_type="text/plain", text=text, title=name)
            return part if native == part else native
        return TextPart(text=f"{document_header(name, media_type)}\n{text}")

    # -- URLs -------------------------------------------------------------------------

    def check_url(self, url: str, path: str) -> None:
        try:
            self.fetcher.check_url(url)
        except InvalidRequestError as exc:
            raise _at(path, exc) from None

    async def fetch(
        self, url: str, declared: str | None, accept: list[str], path: str
    ) -> tuple[str, bytes]:
        """GET through the hardened fetcher; the bytes must match the type they claim. One
        request's fetches are bounded in number and in bytes all together."""
        limits = self.fetcher.settings
        self.fetches += 1
        if self.fetches > limits.max_per_request:
            raise InvalidRequestError(
                f"{path}: URL refused: {url} is past the {limits.max_per_request} URLs the "
                "gateway fetches for one request (fetch.max_per_request)",
                param=path,
            )
        async with self.slots:
            try:
                result = await self.fetcher.fetch(url, accept=accept)
            except InvalidRequestError as exc:
                raise _at(path, exc) from None
        self.fetched_bytes += len(result.body)
        if self.fetched_bytes > limits.max_total_bytes:
            raise InvalidRequestError(
                f"{path}: URL refused: with {url} the request's URLs add up to more than "
                f"the {limits.max_total_bytes}-byte limit (fetch.max_total_bytes)",
                param=path,
            )
        media_type = declared or _fetched_type(result.content_type, result.body, result.url, path)
        check_bytes_match(media_type, result.body, field=f"{path} ({url})")
        return media_type, result.body


def _inline(media_type: str | None, data: str, path: str) -> tuple[str, bytes]:
    raw = decode_base64(data, f"{path}.data")
    if media_type is None:
        media_type = sniff(raw)
    checked = check_media_type(media_type, field=f"{path}.media_type")
    check_bytes_match(checked, raw, field=f"{path}.data")
    return checked, raw


def _fetched_type(content_type: str, body: bytes, url: str, path: str) -> str:
    """The type the server gave, or for bytes it did not label the type they show (their
    magic number, else the URL's extension)."""
    if unlabelled(content_type):
        content_type = sniff(body) or _declared(None, url, path) or content_type
    return check_media_type(content_type, field=path)


def _require_image(media_type: str, path: str) -> None:
    if media_type not in IMAGE_MEDIA_TYPES:
        raise InvalidRequestError(
            f"{path}: an image must be one of {', '.join(IMAGE_MEDIA_TYPES)}, not {media_type}; "
            "send documents as document or file parts",
            param=path,
        )


def _require_url(url: str | None, path: str) -> str:
    if not url:
        raise InvalidRequestError(f"{path}: the part has no data and no URL", param=path)
    return url


def _declared(media_type: str | None, name: str | None, path: str) -> str | None:
    """The declared media type, else the one a file name's extension implies."""
    if media_type:
        return check_media_type(media_type, field=f"{path}.media_type")
    if not name:
        return None
    stem = name.split("?", 1)[0].split("#", 1)[0]
    _, dot, extension = stem.rpartition(".")
    return _EXTENSIONS.get(extension.lower()) if dot and "/" not in extension else None


def _document_accept(declared: str | None) -> list[str]:
    if declared is None:
        return list(ALLOWED_MEDIA_TYPES)
    if declared in TEXT_MEDIA_TYPES:
        # Servers commonly label Markdown and CSV files text/plain.
        return sorted({declared, "text/plain"})
    return [declared]


def _at(path: str, error: InvalidRequestError) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {error.message}", param=path, code=error.code)
