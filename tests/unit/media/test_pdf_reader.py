"""PdfTextReader: PDFs read in worker processes, with a deadline, a memory cap and a bound
on how many at once; the event loop never waits on pypdf."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from tests.integration.media_helpers import make_pdf
from tests.pdf_samples import costly_pdf

from polyrelay.errors import InvalidRequestError
from polyrelay.media import PdfTextReader
from polyrelay.media.pdf_wire import HEADER, LENGTH, TEXT, UNREADABLE
from polyrelay.media.settings import MediaSettings

T = TypeVar("T")
HELLO = make_pdf([("Hello", "from page one")])
# Each page costs pypdf about 3 s of CPU here: far past the deadlines below.
COSTLY = costly_pdf(200_000, 50)


def run_with(settings: MediaSettings, use: Callable[[PdfTextReader], Awaitable[T]]) -> T:
    async def main() -> T:
        reader = PdfTextReader(settings)
        try:
            return await use(reader)
        finally:
            await reader.close()

    return asyncio.run(main())


def workers() -> set[int]:
    """This process's living pdf_worker children."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == os.getpid() and b"polyrelay.media.pdf_worker" in command:
            found.add(int(entry))
    return found


def test_text_is_read_in_a_worker_that_serves_the_next_pdf_too() -> None:
    async def use(reader: PdfTextReader) -> tuple[str, set[int], str, set[int]]:
        first = await reader.text(HELLO, field="f")
        after_first = workers()
        second = await reader.text(HELLO, field="f")
        return first, after_first, second, workers()

    first, after_first, second, after_second = run_with(MediaSettings(), use)
    assert first == second == "--- Page 1 of 1 ---\nHello\nfrom page one"
    assert len(after_first) == 1
    assert after_second == after_first


def test_an_unreadable_pdf_is_a_400_and_the_worker_stays() -> None:
    async def use(reader: PdfTextReader) -> tuple[InvalidRequestError, set[int], str]:
        await reader.text(HELLO, field="f")
        before = workers()
        with pytest.raises(InvalidRequestError) as info:
            await reader.text(b"%PDF-1.7\n garbage", field="messages[0].content[1]")
        assert workers() == before
        return info.value, before, await reader.text(HELLO, field="f")

    error, _, text = run_with(MediaSettings(), use)
    assert error.param == "messages[0].content[1]"
    assert error.message.startswith("messages[0].content[1]: the PDF cannot be read (")
    assert "Hello" in text


def test_a_pdf_past_the_deadline_is_a_400_and_its_worker_is_killed() -> None:
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def use(reader: PdfTextReader) -> tuple[InvalidRequestError, float, set[int]]:
        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        with pytest.raises(InvalidRequestError) as info:
            await reader.text(COSTLY, field="input[0].content[0]")
        took = time.monotonic() - started
        ticker.cancel()
        return info.value, took, workers()

    error, took, left = run_with(MediaSettings(pdf_seconds=1), use)
    assert error.status == 400
    assert error.param == "input[0].content[0]"
    assert error.message == (
        "input[0].content[0]: the PDF cannot be read (it takes longer than 1 s to read, "
        "the media.pdf_seconds limit)"
    )
    assert 1 <= took < 3
    assert left == set()
    # The loop ran all along: no gap between ticks near the deadline's length.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 30
    assert max(gaps) < 0.5


def test_a_pdf_past_the_memory_cap_is_a_400() -> None:
    big = costly_pdf(2_000_000, 1)  # 14 MB of content stream to inflate and parse

    async def use(reader: PdfTextReader) -> tuple[InvalidRequestError, set[int]]:
        with pytest.raises(InvalidRequestError) as info:
            await reader.text(big, field="f")
        return info.value, workers()

    error, left = run_with(MediaSettings(pdf_seconds=60, pdf_memory_bytes=200 << 20), use)
    assert error.message == (
        "f: the PDF cannot be read (it needs more than 200 MiB, the media.pdf_memory_bytes limit)"
    )
    assert left == set()  # a worker that ran out of memory is not used again


def test_a_cancelled_request_kills_its_worker_at_once() -> None:
    async def use(reader: PdfTextReader) -> tuple[float, set[int], str]:
        task = asyncio.create_task(reader.text(COSTLY, field="f"))
        await asyncio.sleep(0.5)
        assert len(workers()) == 1
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started, workers(), await reader.text(HELLO, field="f")

    took, left, text = run_with(MediaSettings(pdf_seconds=30), use)
    assert took < 1
    assert left == set()
    assert "Hello" in text  # a new worker reads the next PDF


def test_a_worker_that_dies_is_a_400_and_replaced(caplog: pytest.LogCaptureFixture) -> None:
    async def use(reader: PdfTextReader) -> tuple[InvalidRequestError, str]:
        task = asyncio.create_task(reader.text(COSTLY, field="f"))
        await asyncio.sleep(0.5)
        (pid,) = workers()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(InvalidRequestError) as info:
            await task
        return info.value, await reader.text(HELLO, field="f")

    error, text = run_with(MediaSettings(pdf_seconds=30), use)
    assert error.message == "f: the PDF cannot be read (the PDF reader stopped (exit code -9))"
    assert "a PDF worker stopped without an answer (the PDF reader stopped (exit code -9))" in (
        caplog.text
    )
    assert "Hello" in text


def test_at_most_pdf_processes_read_at_once_and_the_rest_wait() -> None:
    async def use(reader: PdfTextReader) -> tuple[int, list[str]]:
        costly = [asyncio.create_task(reader.text(COSTLY, field="f")) for _ in range(3)]
        await asyncio.sleep(0.8)
        running = len(workers())
        results = await asyncio.gather(*costly, return_exceptions=True)
        return running, [str(r) for r in results]

    running, results = run_with(MediaSettings(pdf_seconds=1.5, pdf_processes=2), use)
    assert running == 2
    assert all("longer than 1.5 s" in r for r in results)


def test_close_ends_the_idle_workers() -> None:
    async def use(reader: PdfTextReader) -> tuple[set[int], set[int]]:
        await asyncio.gather(*(reader.text(HELLO, field="f") for _ in range(2)))
        before = workers()
        await reader.close()
        return before, workers()

    before, after = run_with(MediaSettings(), use)
    assert len(before) == 2
    assert after == set()


def test_a_worker_left_alone_mid_pdf_is_stopped_by_its_cpu_limit() -> None:
    """Should the gateway die while a worker reads, nobody kills the worker: its CPU-time
    limit (pdf_seconds + 1 s) ends it."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "polyrelay.media.pdf_worker", str(1 << 30), "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert worker.stdin is not None
    worker.stdin.write(LENGTH.pack(len(COSTLY)) + COSTLY)
    worker.stdin.flush()  # and the gateway "dies": no more reads, no kill
    assert worker.wait(timeout=15) == -signal.SIGXCPU


def test_the_worker_answers_each_pdf_until_its_input_ends() -> None:
    requests = b"".join(LENGTH.pack(len(pdf)) + pdf for pdf in (HELLO, b"%PDF-1.7 no", HELLO))
    done = subprocess.run(
        [sys.executable, "-m", "polyrelay.media.pdf_worker", str(1 << 30), "5"],
        input=requests,
        capture_output=True,
        timeout=30,
        check=True,
    )
    answers, out = [], done.stdout
    while out:
        status, size = HEADER.unpack_from(out)
        answers.append((status, out[HEADER.size : HEADER.size + size].decode()))
        out = out[HEADER.size + size :]
    assert answers[0] == answers[2] == (TEXT, "--- Page 1 of 1 ---\nHello\nfrom page one")
    assert answers[1][0] == UNREADABLE
    assert answers[1][1]  # pypdf's reason


def test_a_worker_does_not_get_the_gateways_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret")

    async def use(reader: PdfTextReader) -> bytes:
        await reader.text(HELLO, field="f")
        (pid,) = workers()
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return environ.read()

    environ = run_with(MediaSettings(), use)
    assert b"PYTHONPATH=" in environ
    assert b"sk-upstream-secret" not in environ
    assert b"OPENAI_API_KEY" not in environ


def test_an_idle_worker_that_died_is_replaced_before_the_next_pdf() -> None:
    async def use(reader: PdfTextReader) -> tuple[str, set[int]]:
        await reader.text(HELLO, field="f")
        (pid,) = workers()
        os.kill(pid, signal.SIGKILL)  # the OOM killer, say, while it waited
        for _ in range(100):
            if pid not in workers():
                break
            await asyncio.sleep(0.02)
        text = await reader.text(HELLO, field="f")
        assert pid not in workers()
        return text, workers()

    text, left = run_with(MediaSettings(), use)
    assert "Hello" in text  # not "the PDF reader stopped": that was not this PDF's doing
    assert len(left) == 1


def test_a_requests_pdfs_share_one_budget() -> None:
    """Each PDF within the limit, all of them together past it: the request's next PDF
    is refused once its budget is spent, not read for another full limit."""
    medium = costly_pdf(20_000, 1)  # about 0.3 s here

    async def use(reader: PdfTextReader) -> tuple[list[str], float]:
        budget = reader.budget()
        started = time.monotonic()
        outcomes = []
        for _ in range(12):
            try:
                await reader.text(medium, field="f", budget=budget)
                outcomes.append("read")
            except InvalidRequestError as error:
                outcomes.append(error.message)
        return outcomes, time.monotonic() - started

    outcomes, took = run_with(MediaSettings(pdf_seconds=1.5), use)
    assert outcomes[0] == "read"
    assert outcomes[-1] == (
        "f: the PDF cannot be read (the request's PDFs take longer than 1.5 s to read all "
        "together, the media.pdf_seconds limit)"
    )
    assert took < 4  # 12 PDFs at up to 1.5 s each would be 18 s
