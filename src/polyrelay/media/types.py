"""The media types the gateway accepts, and the checks that bytes are what they claim.

Every refusal is an InvalidRequestError (400) naming the field and what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii

from polyrelay.errors import InvalidRequestError

__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "DOCUMENT_MEDIA_TYPES",
    "IMAGE_MEDIA_TYPES",
    "TEXT_MEDIA_TYPES",
    "UNLABELLED_MEDIA_TYPES",
    "check_bytes_match",
    "check_media_type",
    "decode_base64",
    "encode_base64",
    "normalise_media_type",
    "sniff",
    "unlabelled",
    "validate_media",
]

IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
TEXT_MEDIA_TYPES = ("text/plain", "text/markdown", "text/csv")
DOCUMENT_MEDIA_TYPES = ("application/pdf", *TEXT_MEDIA_TYPES)
ALLOWED_MEDIA_TYPES = (*DOCUMENT_MEDIA_TYPES, *IMAGE_MEDIA_TYPES)
UNLABELLED_MEDIA_TYPES = ("application/octet-stream", "binary/octet-stream")
"""What servers (object stores, CDNs) send for bytes they did not label: the bytes tell."""


def unlabelled(content_type: str) -> bool:
    """Whether a response's media type leaves its bytes to tell their type: none, or a
    generic binary one (UNLABELLED_MEDIA_TYPES)."""
    return not content_type or content_type in UNLABELLED_MEDIA_TYPES


_NAMES = {
    "application/pdf": "a PDF document",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
}
_WHITESPACE = b" \t\r\n\f\v"
_PDF_HEADER_WINDOW = 1024  # readers accept the header anywhere in the first 1 KB


def normalise_media_type(media_type: str) -> str:
    """`Image/PNG; charset=x` -> `image/png`."""
    return media_type.split(";", 1)[0].strip().lower()


def check_media_type(media_type: str | None, *, field: str = "media_type") -> str:
    """The normalised media type; a 400 naming it and the allowed list if it is not one."""
    normalised = normalise_media_type(media_type or "")
    if normalised not in ALLOWED_MEDIA_TYPES:
        shown = repr(media_type) if media_type else "a missing media type"
        raise InvalidRequestError(
            f"{field}: unsupported media type {shown}; allowed: {', '.join(ALLOWED_MEDIA_TYPES)}",
            param=field,
        )
    return normalised


def decode_base64(data: str | bytes, field: str) -> bytes:
    """Strict standard-alphabet base64 (whitespace ignored); a 400 when it does not decode."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    compact = raw.translate(None, _WHITESPACE)
    if not compact:
        raise InvalidRequestError(f"{field}: the base64 data is empty", param=field)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise InvalidRequestError(
            f"{field}: the data is not valid base64 ({exc})", param=field
        ) from None


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sniff(data: bytes) -> str | None:
    """The binary media type the magic number at the start of `data` shows, if any."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return "application/pdf"
    return None


def check_bytes_match(media_type: str, data: bytes, *, field: str = "data") -> None:
    """A 400 when `data` is not of the declared (normalised, allowed) `media_type`."""
    if not data:
        raise InvalidRequestError(f"{field}: the content is empty", param=field)
    found = sniff(data)
    if media_type in TEXT_MEDIA_TYPES:
        _check_text(media_type, data, found, field)
    elif found != media_type:
        actual = _NAMES.get(found or "", "not a recognised image or PDF")
        raise InvalidRequestError(
            f"{field}: declared {media_type}, but the bytes are {actual}", param=field
        )


def validate_media(media_type: str | None, data: bytes, *, field: str = "data") -> str:
    """`check_media_type` and `check_bytes_match` in one; returns the normalised type."""
    normalised = check_media_type(media_type, field=field)
    check_bytes_match(normalised, data, field=field)
    return normalised


def _check_text(media_type: str, data: bytes, found: str | None, field: str) -> None:
    # Text may quote "%PDF-" anywhere; only a leading header makes it a PDF.
    if found is not None and (found != "application/pdf" or data.startswith(b"%PDF-")):
        raise InvalidRequestError(
            f"{field}: declared {media_type}, but the bytes are {_NAMES[found]}", param=field
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{field}: declared {media_type}, but the bytes are not UTF-8 text "
            f"(invalid byte at offset {exc.start})",
            param=field,
        ) from None
