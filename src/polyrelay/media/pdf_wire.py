"""What the gateway and a PDF worker (`pdf_worker`) say to each other over its pipes.

A request is an 8-byte big-endian length and the PDF. An answer is a status byte, an
8-byte length and UTF-8: the text (TEXT), why the PDF cannot be read (UNREADABLE), or,
after which the worker exits, nothing (NO_MEMORY: it ran out of memory).
"""

from __future__ import annotations

import struct

__all__ = ["HEADER", "LENGTH", "NO_MEMORY", "TEXT", "UNREADABLE"]

LENGTH = struct.Struct(">Q")
HEADER = struct.Struct(">BQ")
TEXT, UNREADABLE, NO_MEMORY = 0, 1, 2
