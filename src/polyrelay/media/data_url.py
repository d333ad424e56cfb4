"""`data:` URLs: the inline form OpenAI-style clients use for images and files."""

from __future__ import annotations

from polyrelay.errors import InvalidRequestError
from polyrelay.media.types import (
    check_bytes_match,
    check_media_type,
    decode_base64,
    normalise_media_type,
)

__all__ = ["decode_data_url", "is_data_url", "make_data_url", "parse_data_url"]


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def parse_data_url(url: str, *, field: str = "url") -> tuple[str, str]:
    """`data:<media type>[;params];base64,<payload>` -> (normalised media type, payload).

    Only base64 data URLs are accepted; the payload is returned undecoded.
    """
    if not is_data_url(url):
        raise InvalidRequestError(f"{field}: not a data: URL", param=field)
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise InvalidRequestError(f"{field}: the data: URL has no ',' before its data", param=field)
    media_type, *params = header.split(";")
    if not params or params[-1].strip().lower() != "base64":
        raise InvalidRequestError(
            f"{field}: only base64 data: URLs are accepted (data:<type>;base64,...)", param=field
        )
    return normalise_media_type(media_type), payload


def decode_data_url(url: str, *, field: str = "url") -> tuple[str, bytes]:
    """Parse, check the media type, decode and check the bytes match: (type, bytes)."""
    media_type, payload = parse_data_url(url, field=field)
    media_type = check_media_type(media_type, field=field)
    data = decode_base64(payload, field)
    check_bytes_match(media_type, data, field=field)
    return media_type, data


def make_data_url(media_type: str, b64: str) -> str:
    """The data: URL for base64 `b64` (as stored in the IR's `data` fields)."""
    return f"data:{media_type};base64,{b64}"
