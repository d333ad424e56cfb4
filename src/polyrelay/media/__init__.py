"""Media handling: allowed types, base64 and data: URLs, magic numbers, PDF text."""

from __future__ import annotations

from polyrelay.media.data_url import decode_data_url, is_data_url, make_data_url, parse_data_url
from polyrelay.media.pdf import page_marker, pdf_to_text
from polyrelay.media.pdf_process import PdfTextReader
from polyrelay.media.types import (
    ALLOWED_MEDIA_TYPES,
    DOCUMENT_MEDIA_TYPES,
    IMAGE_MEDIA_TYPES,
    TEXT_MEDIA_TYPES,
    UNLABELLED_MEDIA_TYPES,
    check_bytes_match,
    check_media_type,
    decode_base64,
    encode_base64,
    normalise_media_type,
    sniff,
    unlabelled,
    validate_media,
)

__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "DOCUMENT_MEDIA_TYPES",
    "IMAGE_MEDIA_TYPES",
    "TEXT_MEDIA_TYPES",
    "UNLABELLED_MEDIA_TYPES",
    "PdfTextReader",
    "check_bytes_match",
    "check_media_type",
    "decode_base64",
    "decode_data_url",
    "encode_base64",
    "is_data_url",
    "make_data_url",
    "normalise_media_type",
    "page_marker",
    "parse_data_url",
    "pdf_to_text",
    "sniff",
    "unlabelled",
    "validate_media",
]
