"""Shared pieces of the media integration tests: sample files, a local file server, and a
reader that reduces what an upstream received to comparable tuples."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fpdf import FPDF

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PNG_B64 = base64.b64encode(PNG).decode()
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PAGES = [
    ("Quarterly report", "Revenue grew by twelve percent."),
    ("Risks", "Supply chains remain fragile."),
    ("Outlook", "We expect steady growth next year."),
]
NOTES = "# Notes\n\nShip the media pass."
CSV = "city,temp\nOslo,3\n"


def make_pdf(pages: list[tuple[str, str]]) -> bytes:
    pdf = FPDF()
    for title, body in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=18)
        pdf.cell(text=title)
        pdf.ln(12)
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(w=0, text=body)
    return bytes(pdf.output())


PDF = make_pdf(PAGES)
PDF_B64 = base64.b64encode(PDF).decode()
BIG = PNG + b"\x00" * (1_200_000 - len(PNG))  # above the test gateway's fetch.max_bytes

FILES: dict[str, tuple[str | None, bytes]] = {
    "/img.png": ("image/png", PNG),
    "/doc.pdf": ("application/pdf", PDF),
    "/notes.md": ("text/markdown", NOTES.encode()),
    "/big.png": ("image/png", BIG),
    "/lying.png": ("image/png", JPEG),
    "/octet.png": ("application/octet-stream", PNG),  # an object store's unlabelled upload
    "/untyped-pdf": (None, PDF),  # no Content-Type at all
    "/octet.bin": ("application/octet-stream", b"\x00\x01 not a known format"),
}


class FileServer:
    """Serves FILES on 127.0.0.1 and records every path it was asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                found = FILES.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                del args

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FileServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()


Seen = tuple[str, ...]


def received(provider: str, body: dict[str, Any]) -> list[Seen]:
    """The last user turn the upstream received, as (kind, detail...) tuples:
    ("text", t), ("image-url", u), ("image-data", type, b64), ("pdf-url", u),
    ("pdf-data", b64), ("doc-text", t)."""
    if provider == "openai":
        content = body["messages"][-1]["content"]
        return [
            _chat(p)
            for p in ([{"type": "text", "text": content}] if isinstance(content, str) else content)
        ]
    if provider == "openai-responses":
        return [_responses(p) for p in body["input"][-1]["content"]]
    if provider == "anthropic":
        return [_anthropic(p) for p in body["messages"][-1]["content"]]
    return [_gemini(p) for p in body["contents"][-1]["parts"]]


def _split_data_url(url: str) -> tuple[str, str]:
    header, _, payload = url[5:].partition(",")
    return header.removesuffix(";base64"), payload


def _chat(part: dict[str, Any]) -> Seen:
    if part["type"] == "text":
        return ("text", part["text"])
    if part["type"] == "image_url":
        url = part["image_url"]["url"]
        return (
            ("image-data", *_split_data_url(url)) if url.startswith("data:") else ("image-url", url)
        )
    media_type, data = _split_data_url(part["file"]["file_data"])
    assert media_type == "application/pdf", media_type
    return ("pdf-data", data)


def _responses(part: dict[str, Any]) -> Seen:
    if part["type"] == "input_text":
        return ("text", part["text"])
    if part["type"] == "input_image":
        url = part["image_url"]
        return (
            ("image-data", *_split_data_url(url)) if url.startswith("data:") else ("image-url", url)
        )
    if "file_url" in part:
        return ("pdf-url", part["file_url"])
    media_type, data = _split_data_url(part["file_data"])
    assert media_type == "application/pdf", media_type
    return ("pdf-data", data)


def _anthropic(part: dict[str, Any]) -> Seen:
    if part["type"] == "text":
        return ("text", part["text"])
    source = part["source"]
    if part["type"] == "image":
        if source["type"] == "url":
            return ("image-url", source["url"])
        return ("image-data", source["media_type"], source["data"])
    assert part["type"] == "document", part
    if source["type"] == "url":
        return ("pdf-url", source["url"])
    if source["type"] == "text":
        return ("doc-text", source["data"])
    assert source["media_type"] == "application/pdf", source
    return ("pdf-data", source["data"])


def _gemini(part: dict[str, Any]) -> Seen:
    if "text" in part:
        return ("text", part["text"])
    blob = part["inlineData"]
    if blob["mimeType"] == "application/pdf":
        return ("pdf-data", blob["data"])
    return ("image-data", blob["mimeType"], blob["data"])
