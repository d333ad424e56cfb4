"""Accepted tasks survive a `kill -9` of the server: a restart on the same database runs
the pending ones and re-runs the interrupted ones, storing each result exactly once."""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import stop
from tests.integration.tasks_support import TasksGateway, submit_slow

TASKS = 20


def statuses(gateway: TasksGateway) -> dict[str, int]:
    with sqlite3.connect(gateway.database) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall()
    return dict(rows)


def test_tasks_survive_sigkill(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gateway = TasksGateway(tmp_path_factory.mktemp("durable"), emulator.url)
    gateway.start()
    run = uuid.uuid4().hex[:6]
    texts = [f"durable {run} {n}" for n in range(TASKS)]
    with ThreadPoolExecutor(8) as pool:
        ids = dict(
            zip(pool.map(lambda t: submit_slow(gateway, t, 2000), texts), texts, strict=True)
        )
    deadline = time.monotonic() + 10
    while statuses(gateway).get("processing", 0) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gateway.kill()
    before = statuses(gateway)
    assert before.get("success", 0) < TASKS, before  # some were in flight when it died
    assert before.get("processing", 0) > 0
    gateway.start()
    try:
        for task_id, text in ids.items():
            task = gateway.wait_final(task_id, timeout=40)
            assert task["status"] == "success", task
            assert task["result"]["content"][0]["text"] == f"You said: {text}"
        with sqlite3.connect(gateway.database) as conn:
            rows = conn.execute("SELECT id, completions, attempts FROM tasks").fetchall()
        assert len(rows) == TASKS
        assert all(completions == 1 for _, completions, _ in rows)
        assert any(attempts == 2 for _, _, attempts in rows)  # the interrupted ones re-ran
    finally:
        assert gateway.proc is not None
        stop(gateway.proc)
