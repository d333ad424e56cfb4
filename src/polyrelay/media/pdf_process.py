"""A PDF's text, read in a worker process with a deadline and a memory cap.

pypdf is pure Python, and its work follows what a PDF asks for, not the PDF's size: a 2 KB
PDF whose pages all draw one compressed stream of text operators costs seconds of CPU, and
one of a few hundred KB costs hours. On a thread of the gateway that work would hold the
GIL the event loop needs for as long as the PDF says. Here PDFs go to worker processes
(`pdf_worker`), kept between PDFs so that a PDF costs no interpreter start; one that passes
its deadline or whose request goes away is killed, and the next PDF starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from typing import NamedTuple

from polyrelay.media.pdf import unreadable
from polyrelay.media.pdf_wire import HEADER, LENGTH, NO_MEMORY, TEXT
from polyrelay.media.settings import MediaSettings

__all__ = ["PdfBudget", "PdfTextReader"]

log = logging.getLogger("polyrelay.media")


class _Outcome(NamedTuple):
    text: str | None
    """None: the PDF cannot be read, for the reason in `why`."""
    why: str = ""
    reusable: bool = True
    """Whether the worker may read the next PDF."""
    died: bool = False
    """The worker ended without an answer."""


class PdfBudget:
    """The reading time one request's PDFs have left, all together (`pdf_seconds`): many
    PDFs in one request cannot hold the workers for many times the limit. PDFs of a
    request read at the same time may each take what was left when they started."""

    __slots__ = ("seconds", "total")

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.seconds = seconds


class PdfTextReader:
    """Reads PDFs in at most `pdf_processes` worker processes at once."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.pdf_processes)
        self._idle: list[_Worker] = []

    def budget(self) -> PdfBudget:
        """A new request's reading time."""
        return PdfBudget(self._settings.pdf_seconds)

    async def text(self, data: bytes, *, field: str, budget: PdfBudget | None = None) -> str:
        """`read_pdf_text` of `data`. A 400 naming `field` when the PDF cannot be read,
        needs more than `pdf_memory_bytes`, or takes longer than its request's `budget`
        (by default, a request of this PDF alone)."""
        budget = budget or self.budget()
        async with self._slots:
            if budget.seconds <= 0:
                raise unreadable(field, _too_long(budget))
            worker, fresh = await self._worker()
            outcome = await self._use(worker, data, budget)
            if outcome.died and not fresh:
                # An idle worker may have died before its exit was seen: not this PDF's doing.
                worker = await _Worker.start(self._settings)
                outcome = await self._use(worker, data, budget)
        if outcome.died:  # the PDF's doing or the worker's (it could not start)
            log.warning("a PDF worker stopped without an answer (%s)", outcome.why)
        if outcome.text is None:
            raise unreadable(field, outcome.why)
        return outcome.text

    async def _worker(self) -> tuple[_Worker, bool]:
        """An idle worker that is still alive, else a new one (True)."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker, False
            await worker.kill()  # reaps it
        return await _Worker.start(self._settings), True

    async def _use(self, worker: _Worker, data: bytes, budget: PdfBudget) -> _Outcome:
        outcome = None
        started = time.monotonic()
        try:
            outcome = await self._read(worker, data, budget)
        finally:
            budget.seconds -= (
                time.monotonic() - started
            )  # a cancelled request's worker is mid-PDF: it goes too
            if outcome is not None and outcome.reusable:
                self._idle.append(worker)
            else:
                await worker.kill()
        return outcome

    async def _read(self, worker: _Worker, data: bytes, budget: PdfBudget) -> _Outcome:
        try:
            status, message = await asyncio.wait_for(worker.read(data), budget.seconds)
        except TimeoutError:
            return _Outcome(None, _too_long(budget), reusable=False)
        except (asyncio.IncompleteReadError, ConnectionError):
            why = f"the PDF reader stopped (exit code {await worker.exit_code()})"
            return _Outcome(None, why, reusable=False, died=True)
        if status == TEXT:
            return _Outcome(message)
        if status == NO_MEMORY:
            memory = self._settings.pdf_memory_bytes >> 20
            why = f"it needs more than {memory} MiB, the media.pdf_memory_bytes limit"
            return _Outcome(None, why, reusable=False)
        return _Outcome(None, message)

    async def close(self) -> None:
        """End the idle workers (at shutdown); a worker in use ends with its PDF."""
        idle, self._idle = self._idle, []
        for worker in idle:
            await worker.kill()


def _too_long(budget: PdfBudget) -> str:
    if budget.seconds >= budget.total:  # nothing else of the request's was read
        return f"it takes longer than {budget.total:g} s to read, the media.pdf_seconds limit"
    return (
        f"the request's PDFs take longer than {budget.total:g} s to read all together, "
        "the media.pdf_seconds limit"
    )


class _Worker:
    """One `pdf_worker` process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, settings: MediaSettings) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "polyrelay.media.pdf_worker",
            str(settings.pdf_memory_bytes),
            str(settings.pdf_seconds),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # pypdf's and Python's complaints quote the client's PDF: not for the log.
            stderr=subprocess.DEVNULL,
            # Not the gateway's environment, which holds the upstreams' API keys: a worker
            # runs pypdf on strangers' files. It needs to find polyrelay, nothing more.
            env={"PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def read(self, data: bytes) -> tuple[int, str]:
        """Send one PDF, wait for its answer: (status, message)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(LENGTH.pack(len(data)))
        self._process.stdin.write(data)
        await self._process.stdin.drain()
        status, size = HEADER.unpack(await self._process.stdout.readexactly(HEADER.size))
        body = await self._process.stdout.readexactly(size)
        return status, body.decode("utf-8", "replace")

    async def exit_code(self) -> int | None:
        """The exit code of a worker whose output has ended."""
        # Not kill() first: on a dead child, Popen.send_signal reaps it before asyncio's
        # child watcher can, and the exit code is lost (reported as 255).
        try:
            return await asyncio.wait_for(self._process.wait(), 1)
        except TimeoutError:
            return await self.kill()

    async def kill(self) -> int | None:
        """Stop the process (it may be mid-PDF) and reap it; its exit code."""
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        return await self._process.wait()
