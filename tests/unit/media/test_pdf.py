"""PDF to text on real PDFs written by the test with fpdf2."""

from __future__ import annotations

import io
import logging

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from polyrelay.errors import InvalidRequestError
from polyrelay.media import pdf_to_text, sniff

PAGES = [
    ("Quarterly report", "Revenue grew by 12 percent."),
    ("Risks", "Supply chains remain fragile."),
    ("Outlook", "We expect steady growth next year."),
]


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


def test_pages_come_out_in_order_with_markers() -> None:
    data = make_pdf(PAGES)
    assert sniff(data) == "application/pdf"
    text = pdf_to_text(data)
    sections = text.split("\n\n")
    assert len(sections) == 3
    for number, (section, (title, body)) in enumerate(zip(sections, PAGES, strict=True), 1):
        marker, *lines = section.split("\n")
        assert marker == f"--- Page {number} of 3 ---"
        assert lines == [title, body]


def test_a_page_without_text_is_marked() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_blank_page(width=200, height=200)
    text = pdf_to_text(_bytes(writer))
    assert text == (
        "--- Page 1 of 2 ---\n[no extractable text on this page]\n\n"
        "--- Page 2 of 2 ---\n[no extractable text on this page]"
    )


def test_an_encrypted_pdf_is_a_400() -> None:
    writer = PdfWriter(clone_from=_reader(make_pdf(PAGES)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    with pytest.raises(InvalidRequestError, match=r"the PDF cannot be read \(it is encrypted\)"):
        pdf_to_text(_bytes(writer))


def test_a_pdf_encrypted_with_an_empty_password_is_read() -> None:
    writer = PdfWriter(clone_from=_reader(make_pdf(PAGES)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    assert "--- Page 3 of 3 ---\nOutlook" in pdf_to_text(_bytes(writer))


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n garbage", b"not a pdf at all", make_pdf(PAGES)[:200], b""],
)
def test_a_corrupt_pdf_is_a_400(data: bytes) -> None:
    with pytest.raises(InvalidRequestError) as info:
        pdf_to_text(data, field="messages[0].content[1]")
    assert info.value.status == 400
    assert info.value.param == "messages[0].content[1]"
    assert info.value.message.startswith("messages[0].content[1]: the PDF cannot be read (")


def test_a_pdf_without_pages_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="it has no pages"):
        pdf_to_text(_bytes(PdfWriter()))


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def _bytes(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_what_pypdf_says_of_a_flawed_pdf_stays_out_of_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pypdf logs the flaws it works around with the PDF's own bytes in the message: a
    client's file must not write the gateway's log."""
    data = make_pdf([("Hello", "World")])
    xref = data.index(b"xref")
    lines = data[xref:].split(b"\n")
    lines[3] = lines[3][:9] + b"9" + lines[3][10:]  # object 1 points 4 bytes off
    flawed = data[:xref] + b"\n".join(lines)
    with caplog.at_level(logging.DEBUG):
        text = pdf_to_text(flawed)
    assert "Hello" in text
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
