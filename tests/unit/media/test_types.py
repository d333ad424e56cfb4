"""Allowed media types, strict base64, data: URLs and magic-number checks."""

from __future__ import annotations

import base64

import pytest

from polyrelay.errors import InvalidRequestError
from polyrelay.media import (
    ALLOWED_MEDIA_TYPES,
    check_bytes_match,
    check_media_type,
    decode_base64,
    decode_data_url,
    encode_base64,
    make_data_url,
    parse_data_url,
    sniff,
    validate_media,
)

SAMPLES = {
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/gif": b"GIF89a\x01\x00\x01\x00\x80\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
}
TEXTS = {
    "text/plain": "plain text, caf\u00e9\n".encode(),
    "text/markdown": b"# Title\n\n* a list mentioning %PDF- headers\n",
    "text/csv": b"a,b\n1,2\n",
}


def test_the_allowed_list_is_the_issue_list() -> None:
    assert set(ALLOWED_MEDIA_TYPES) == {
        "application/pdf", "text/plain", "text/markdown", "text/csv",
        "image/png", "image/jpeg", "image/gif", "image/webp",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("image/png", "image/png"),
        ("Image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
    ],
)
def test_allowed_media_types_normalise(given: str, expected: str) -> None:
    assert check_media_type(given) == expected


@pytest.mark.parametrize("media_type", ["image/svg+xml", "text/html", "image/jpg", "video/mp4", ""])
def test_a_wrong_media_type_is_a_400_naming_it_and_the_allowed_list(media_type: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_media_type(media_type, field="source.media_type")
    error = info.value
    assert error.status == 400
    assert error.param == "source.media_type"
    shown = repr(media_type) if media_type else "a missing media type"
    assert f"unsupported media type {shown}" in error.message
    assert (
        "allowed: application/pdf, text/plain, text/markdown, text/csv, image/png" in error.message
    )


def test_base64_decodes_strictly_and_tolerates_whitespace() -> None:
    data = bytes(range(256))
    encoded = base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert decode_base64(wrapped, "data") == data
    assert decode_base64(encoded.encode(), "data") == data
    assert encode_base64(data) == encoded


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("aGVsbG8", "not valid base64"),  # missing padding
        ("aGVs*G8=", "not valid base64"),  # outside the alphabet
        ("aGV-bG8_", "not valid base64"),  # url-safe alphabet is not accepted
        ("aGVsbG8=aGVs", "not valid base64"),  # data after padding
        ("caf\u00e9", "not valid base64"),
        ("", "the base64 data is empty"),
        ("  \n ", "the base64 data is empty"),
    ],
)
def test_bad_base64_is_a_400(text: str, why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        decode_base64(text, "messages[0].content[0].source.data")
    assert info.value.status == 400
    assert info.value.param == "messages[0].content[0].source.data"
    assert info.value.message.startswith("messages[0].content[0].source.data: ")
    assert why in info.value.message


@pytest.mark.parametrize(("media_type", "data"), SAMPLES.items())
def test_magic_numbers_are_sniffed(media_type: str, data: bytes) -> None:
    assert sniff(data) == media_type
    check_bytes_match(media_type, data)


@pytest.mark.parametrize(("media_type", "data"), TEXTS.items())
def test_utf8_text_matches_text_types(media_type: str, data: bytes) -> None:
    assert validate_media(media_type, data) == media_type


@pytest.mark.parametrize(
    ("declared", "data", "why"),
    [
        ("image/png", SAMPLES["image/jpeg"], "declared image/png, but the bytes are a JPEG image"),
        ("image/jpeg", SAMPLES["image/gif"], "declared image/jpeg, but the bytes are a GIF image"),
        ("image/gif", SAMPLES["image/webp"], "but the bytes are a WebP image"),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a recognised image or PDF"),
        ("application/pdf", SAMPLES["image/png"], "but the bytes are a PNG image"),
        ("image/png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a recognised image"),
        ("text/plain", SAMPLES["image/png"], "declared text/plain, but the bytes are a PNG image"),
        ("text/csv", b"a,b\n\xff\xfe,1\n", "not UTF-8 text (invalid byte at offset 4)"),
        ("text/markdown", SAMPLES["application/pdf"], "but the bytes are a PDF document"),
        ("image/png", b"", "the content is empty"),
    ],
)
def test_bytes_that_do_not_match_the_declared_type_are_a_400(
    declared: str, data: bytes, why: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_bytes_match(declared, data, field="image_url")
    assert info.value.status == 400
    assert info.value.param == "image_url"
    assert why in info.value.message


def test_data_url_round_trip() -> None:
    b64 = encode_base64(SAMPLES["image/png"])
    url = make_data_url("image/png", b64)
    assert url == f"data:image/png;base64,{b64}"
    assert parse_data_url(url) == ("image/png", b64)
    assert parse_data_url(f"DATA:Image/PNG;name=x.png;base64,{b64}") == ("image/png", b64)
    assert decode_data_url(url) == ("image/png", SAMPLES["image/png"])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://example.com/a.png", "not a data: URL"),
        ("data:image/png;base64", "has no ','"),
        ("data:text/plain,hello%20world", "only base64 data: URLs are accepted"),
        ("data:image/svg+xml;base64,PHN2Zz4=", "unsupported media type 'image/svg+xml'"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/png;base64," + encode_base64(SAMPLES["image/gif"]), "bytes are a GIF image"),
    ],
)
def test_bad_data_urls_are_a_400(url: str, why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        decode_data_url(url, field="image_url.url")
    assert info.value.param == "image_url.url"
    assert why in info.value.message
