"""The process that reads PDFs for `pdf_process.PdfTextReader`: `python -m
polyrelay.media.pdf_worker MEMORY_BYTES SECONDS`.

It reads one PDF at a time from stdin and answers on stdout (`pdf_wire`), until stdin ends.
"""

from __future__ import annotations

import math
import resource
import sys
from typing import BinaryIO

from polyrelay.media.pdf import UnreadablePdf, read_pdf_text
from polyrelay.media.pdf_wire import HEADER, LENGTH, NO_MEMORY, TEXT, UNREADABLE

__all__ = ["serve"]


def serve(requests: BinaryIO, answers: BinaryIO, seconds: float) -> None:
    while head := requests.read(LENGTH.size):
        (size,) = LENGTH.unpack(head)
        data = requests.read(size)
        _limit_cpu(seconds)
        try:
            status, message = TEXT, read_pdf_text(data)
        except UnreadablePdf as exc:
            status, message = UNREADABLE, str(exc)
        except MemoryError:
            status, message = NO_MEMORY, ""
        body = message.encode("utf-8", "surrogatepass")
        answers.write(HEADER.pack(status, len(body)) + body)
        answers.flush()
        if status == NO_MEMORY:
            return  # what failed to allocate may have left pypdf's state half made


def _limit_cpu(seconds: float) -> None:
    """A backstop should the gateway die mid-PDF: nobody would be left to kill this one.
    The limit counts the process's whole life, so it moves on with every PDF."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def main(argv: list[str]) -> None:
    memory, seconds = int(argv[0]), float(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    import pypdf  # noqa: F401  (before the first PDF: the gateway waits on that one)

    serve(sys.stdin.buffer, sys.stdout.buffer, seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
