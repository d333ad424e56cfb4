"""PDF to text with page markers, for upstreams that cannot read PDFs themselves."""

from __future__ import annotations

import asyncio
import io
import logging

from polyrelay.errors import InvalidRequestError

__all__ = ["page_marker", "pdf_to_text", "pdf_to_text_async"]

# pypdf logs every flaw it works around in a client's PDF, at WARNING and ERROR, with the
# PDF's own bytes in the message (a name may hold a newline: a forged log line) and a
# traceback when one of its messages fails to format. A client could flood or forge the
# gateway's log. What matters reaches the client: a 400, or the text that was read.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

_EMPTY_PAGE = "[no extractable text on this page]"


def page_marker(number: int, total: int) -> str:
    return f"--- Page {number} of {total} ---"


def pdf_to_text(data: bytes, *, field: str = "data") -> str:
    """The text of every page, each after a `--- Page N of M ---` line.

    A PDF that cannot be read (corrupt, encrypted, no pages) is a 400. This is CPU-bound;
    from async code call `pdf_to_text_async`.
    """
    # Imported here: pypdf is only needed by requests that carry a PDF for a text-only model.
    from pypdf.errors import FileNotDecryptedError

    try:
        pages = _extract_pages(data)
    except FileNotDecryptedError:
        raise _unreadable(field, "it is encrypted") from None
    # pypdf raises many exception types (not only PyPdfError) on malformed input.
    except Exception as exc:
        raise _unreadable(field, f"{type(exc).__name__}: {exc}") from None
    if not pages:
        raise _unreadable(field, "it has no pages")
    total = len(pages)
    return "\n\n".join(
        f"{page_marker(number, total)}\n{text or _EMPTY_PAGE}"
        for number, text in enumerate(pages, start=1)
    )


async def pdf_to_text_async(data: bytes, *, field: str = "data") -> str:
    """`pdf_to_text` in a worker thread, so a large PDF does not stall the event loop."""
    return await asyncio.to_thread(pdf_to_text, data, field=field)


def _extract_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
    return [page.extract_text().strip() for page in reader.pages]


def _unreadable(field: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: the PDF cannot be read ({why})", param=field)
