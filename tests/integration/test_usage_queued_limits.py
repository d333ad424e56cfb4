"""A key's token budget holds for work it queued: async tasks and background responses
are counted when submitted, and those that reach their turn after the tasks before them
spent the budget are refused then (429 `insufficient_quota`), instead of all running.
Real gateway (4 task slots) → the emulator, whose `[[delay MS]]` keeps the first four
running while the rest wait. (The four run at once, as concurrent requests do: the
budget is checked before each, and none had ended.)"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyrelay.storage import KeyLimits
from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import new_key

SLOTS = 4
QUEUED = 6


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("queued-limits")


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, workdir: Path) -> Iterator[Gateway]:
    extra = f"tasks: {{workers: {SLOTS}, retry_base_seconds: 0.1, poll_seconds: 0.1}}\n"
    yield from serving(workdir, emulator, extra=extra)


def budget_key(workdir: Path, budget: int) -> tuple[str, str]:
    return new_key(workdir / "polyrelay.db", "budget", KeyLimits(token_budget=budget))


def until_ended(gateway: Gateway, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        found: dict[str, Any] = httpx.get(gateway.url + url, headers=headers).json()
        if found["status"] not in ("pending", "processing", "queued", "in_progress"):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_queued_work_stops_at_the_token_budget(gateway: Gateway, workdir: Path) -> None:
    # One token: the first request to end spends it. Nothing has ended while all are
    # submitted, so each submission is accepted.
    key_id, secret = budget_key(workdir, budget=1)
    headers = {"authorization": f"Bearer {secret}", "anthropic-version": "2023-06-01"}
    text = "[[delay 800]] hello"
    tasks = [
        httpx.post(
            gateway.url + "/v1/messages",
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 20,
                "async": True,
                "messages": [{"role": "user", "content": text}],
            },
            headers=headers,
        ).json()["id"]
        for _ in range(SLOTS + QUEUED)
    ]
    background = httpx.post(
        gateway.url + "/v1/responses",
        json={"model": "gpt-5-mini", "background": True, "input": text},
        headers=headers,
    ).json()["id"]
    ended = [until_ended(gateway, f"/v1/tasks/{task}", headers) for task in tasks]
    assert [t["status"] for t in ended] == ["success"] * SLOTS + ["failed"] * QUEUED
    assert {t["error"]["status"] for t in ended[SLOTS:]} == {429}
    assert "token budget" in ended[-1]["error"]["message"]
    response = until_ended(gateway, f"/v1/responses/{background}", headers)
    assert response["status"] == "failed"
    httpx.get(gateway.url + "/v1/usage", headers=headers)  # commits the parked rows
    with sqlite3.connect(workdir / "polyrelay.db") as conn:
        rows = conn.execute("SELECT status FROM usage WHERE key_id = ?", (key_id,)).fetchall()
    assert rows == [(200,)] * SLOTS  # the refused ones never reached the upstream
