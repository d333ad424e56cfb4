"""PDF to text with page markers, for upstreams that cannot read PDFs themselves."""

from __future__ import annotations

import io
import logging

from polyrelay.errors import InvalidRequestError

__all__ = ["UnreadablePdf", "page_marker", "pdf_to_text", "read_pdf_text", "unreadable"]

# pypdf logs every flaw it works around in a client's PDF, at WARNING and ERROR, with the
# PDF's own bytes in the message (a name may hold a newline: a forged log line) and a
# traceback when one of its messages fails to format. A client could flood or forge the
# gateway's log. What matters reaches the client: a 400, or the text that was read.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

_EMPTY_PAGE = "[no extractable text on this page]"


def page_marker(number: int, total: int) -> str:
    return f"--- Page {number} of {total} ---"


class UnreadablePdf(Exception):
    """Why a PDF cannot be read (corrupt, encrypted, no pages); the caller makes it a 400."""


def pdf_to_text(data: bytes, *, field: str = "data") -> str:
    """`read_pdf_text`, with an unreadable PDF as the 400 naming `field`."""
    try:
        return read_pdf_text(data)
    except UnreadablePdf as exc:
        raise unreadable(field, str(exc)) from None


def read_pdf_text(data: bytes) -> str:
    """The text of every page, each after a `--- Page N of M ---` line.

    pypdf's work has no bound but the PDF's own: the gateway calls this in a child process
    (`pdf_process.PdfTextReader`), never on a thread of its own.
    """
    # Imported here: pypdf is only needed by requests that carry a PDF for a text-only model.
    from pypdf.errors import FileNotDecryptedError

    try:
        pages = _extract_pages(data)
    except FileNotDecryptedError:
        raise UnreadablePdf("it is encrypted") from None
    except MemoryError:
        raise  # the caller's limit, which it names
    # pypdf raises many exception types (not only PyPdfError) on malformed input.
    except Exception as exc:
        raise UnreadablePdf(f"{type(exc).__name__}: {exc}") from None
    if not pages:
        raise UnreadablePdf("it has no pages")
    total = len(pages)
    return "\n\n".join(
        f"{page_marker(number, total)}\n{text or _EMPTY_PAGE}"
        for number, text in enumerate(pages, start=1)
    )


def _extract_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
    return [page.extract_text().strip() for page in reader.pages]


def unreadable(field: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: the PDF cannot be read ({why})", param=field)
