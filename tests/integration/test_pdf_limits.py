"""The limits on reading a PDF for a model that cannot (`media:` in the config), on a real
gateway: a PDF that costs pypdf more than `pdf_seconds` is a 400 in the client's protocol,
the gateway serves other requests meanwhile, and the worker processes end with the gateway,
however it ends."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Emulator
from tests.integration.media_helpers import PDF_B64
from tests.integration.servers import STATIC_KEY, free_port, gateway_config, start, stop
from tests.pdf_samples import costly_pdf

HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
# Each page costs pypdf about 3 s of CPU: the whole PDF, minutes. It is 3 KB.
COSTLY_B64 = base64.b64encode(costly_pdf(200_000, 50)).decode()
LIMIT = "it takes longer than 1 s to read, the media.pdf_seconds limit"


def start_gateway(emulator: Emulator, workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    text = gateway_config(
        emulator.url, workdir / "db.sqlite", extra="media: {pdf_seconds: 1, pdf_processes: 1}\n"
    )
    text = text.replace(
        "models:\n",
        "models:\n  text-only: {provider: emu-openai, model: gpt-4o-mini, pdf: false}\n",
    )
    config = workdir / "polyrelay.yaml"
    config.write_text(text)
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    proc = start(["serve", "--config", str(config), "--port", port], url + "/", workdir / "log")
    return url, proc


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, proc = start_gateway(emulator, tmp_path_factory.mktemp("pdf-limits"))
    yield url
    stop(proc)


def messages(gateway: str, pdf_b64: str) -> httpx.Response:
    document = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf_b64},
    }
    body = {
        "model": "text-only",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [document, {"type": "text", "text": "sum up"}]}],
    }
    return httpx.post(f"{gateway}/v1/messages", json=body, headers=HEADERS, timeout=30)


def responses(gateway: str, pdf_b64: str) -> httpx.Response:
    part = {
        "type": "input_file",
        "filename": "a.pdf",
        "file_data": f"data:application/pdf;base64,{pdf_b64}",
    }
    body = {"model": "text-only", "input": [{"role": "user", "content": [part]}]}
    return httpx.post(f"{gateway}/v1/responses", json=body, headers=HEADERS, timeout=30)


def test_a_costly_pdf_is_a_400_at_the_deadline_in_each_protocol(
    gateway: str, emulator: Emulator
) -> None:
    emulator.clear()
    started = time.monotonic()
    anthropic = messages(gateway, COSTLY_B64)
    assert time.monotonic() - started < 5
    assert anthropic.status_code == 400, anthropic.text
    assert anthropic.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": f"messages[0].content[0]: the PDF cannot be read ({LIMIT})",
        },
        "request_id": anthropic.headers["request-id"],
    }
    openai = responses(gateway, COSTLY_B64)
    assert openai.status_code == 400, openai.text
    error = openai.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].endswith(f"the PDF cannot be read ({LIMIT})")
    assert emulator.requests() == []  # nothing went upstream


def test_a_requests_pdfs_share_the_limit(gateway: str) -> None:
    """Eight PDFs of about 0.3 s each: each within the 1 s limit, together past it."""
    medium = base64.b64encode(costly_pdf(20_000, 1)).decode()
    source = {"type": "base64", "media_type": "application/pdf", "data": medium}
    content = [{"type": "document", "source": source}] * 8
    body = {
        "model": "text-only",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": content}],
    }
    started = time.monotonic()
    response = httpx.post(f"{gateway}/v1/messages", json=body, headers=HEADERS, timeout=30)
    assert time.monotonic() - started < 4
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].endswith(
        "the PDF cannot be read (the request's PDFs take longer than 1 s to read all together, "
        "the media.pdf_seconds limit)"
    )


def test_the_gateway_serves_other_requests_while_a_pdf_is_read(gateway: str) -> None:
    answer: dict[str, httpx.Response] = {}
    reader = threading.Thread(
        target=lambda: answer.setdefault("pdf", messages(gateway, COSTLY_B64))
    )
    reader.start()
    time.sleep(0.3)  # the PDF is being read now
    took = []
    while reader.is_alive() and len(took) < 5:
        started = time.monotonic()
        chat = httpx.post(
            f"{gateway}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers=HEADERS,
            timeout=30,
        )
        took.append(time.monotonic() - started)
        assert chat.status_code == 200, chat.text
    reader.join()
    assert answer["pdf"].status_code == 400
    assert len(took) >= 2 and max(took) < 0.5, took


def test_a_readable_pdf_after_a_costly_one_reaches_the_upstream_as_text(
    gateway: str, emulator: Emulator
) -> None:
    assert messages(gateway, COSTLY_B64).status_code == 400
    emulator.clear()
    response = messages(gateway, PDF_B64)
    assert response.status_code == 200, response.text
    sent = emulator.last()["body"]["messages"][-1]["content"]
    texts = [part["text"] for part in sent if part["type"] == "text"]
    assert any("--- Page 1 of 3 ---\nQuarterly report" in text for text in texts)


def workers_of(pid: int) -> set[int]:
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"polyrelay.media.pdf_worker" in command:
            found.add(int(entry))
    return found


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_pdf_workers_end_with_the_gateway(
    emulator: Emulator, tmp_path: Path, how: signal.Signals
) -> None:
    url, proc = start_gateway(emulator, tmp_path)
    try:
        assert messages(url, PDF_B64).status_code == 200
        (worker,) = workers_of(proc.pid)  # idle, kept for the next PDF
        proc.send_signal(how)
        proc.wait(timeout=10)
        assert gone(worker, within=5)
    finally:
        if proc.poll() is None:
            stop(proc)
