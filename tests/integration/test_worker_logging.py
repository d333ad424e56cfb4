"""`polyrelay serve --workers 2` logs from its worker processes as the single-process server
does: the configured level (INFO lines included) and the configured line format, once per
line (a worker is a spawned process and inherits no logging set-up from `serve`)."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.integration.conftest import Emulator
from tests.integration.servers import STATIC_KEY, free_port, gateway_config, start, stop

_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO polyrelay[.\w]* "
_TASK_WORKER = re.compile(_LINE + r"task worker (worker_[0-9a-f]+): \d+ slots$", re.M)
_REQUEST = re.compile(_LINE + r"POST /v1/chat/completions model=gpt-4o-mini status=200 ", re.M)


def test_each_worker_logs_info_lines_in_the_configured_format(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = tmp_path / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, tmp_path / "db.sqlite", "log_level: info\n"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "log"
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    proc = start(args, url + "/", log)
    try:
        answer = httpx.post(
            url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {STATIC_KEY}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 20
        while True:  # the second worker may still be starting
            logged = log.read_text()
            workers = Counter(_TASK_WORKER.findall(logged))
            if (len(workers) >= 2 and _REQUEST.search(logged)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop(proc)
    assert len(workers) == 2, logged
    assert set(workers.values()) == {1}, logged  # one handler each: no line twice
    assert _REQUEST.search(logged), logged
