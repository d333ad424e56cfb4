"""Configuration of the media pass (the `media:` section of the config file)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["MediaSettings"]

_MIB = 1024 * 1024


class MediaSettings(msgspec.Struct, frozen=True, kw_only=True):
    pdf_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Longest time the PDFs of one request may take to read, all together (for models with
    `pdf: false`); past it, a 400. pypdf's work follows what a PDF asks for, not its size."""
    pdf_memory_bytes: Annotated[int, msgspec.Meta(ge=128 * _MIB)] = 1024 * _MIB
    """Address space of the process that reads one PDF."""
    pdf_processes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    """PDFs read at once by one gateway process; more wait for a turn."""
