"""`polyrelay serve --workers 2`: two worker processes share the port and the SQLite
database. Every request is answered, both workers take a share of the load, and a stored
response chains from any worker at once (a fresh connection per request, so the follow-up
can land on the worker that did not store it)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import STATIC_KEY, free_port, gateway_config, start, stop

HEADERS = {"Authorization": f"Bearer {STATIC_KEY}"}


@pytest.fixture(scope="module")
def two_workers(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    workdir: Path = tmp_path_factory.mktemp("workers")
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "polyrelay.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    proc = start(args, url + "/", workdir / "log")
    yield url, proc.pid
    stop(proc)


def _cpu_ticks_of_children(pid: int) -> dict[int, int]:
    """utime+stime of each child process of `pid` (the workers), from /proc."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def _chat(url: str, _: int) -> None:
    with httpx.Client(timeout=30) as client:  # a new connection each time
        response = client.post(
            url + "/v1/chat/completions",
            headers=HEADERS,
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "You said: hi"


def test_both_workers_answer(two_workers: tuple[str, int]) -> None:
    url, pid = two_workers
    before = _cpu_ticks_of_children(pid)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: _chat(url, n), range(300)))
    after = _cpu_ticks_of_children(pid)
    busy = [p for p in after if after[p] - before.get(p, 0) >= 3]  # ≥ 30 ms of CPU each
    assert len(after) >= 2 and len(busy) >= 2, (before, after)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-mini"])
def test_a_stored_response_chains_from_either_worker_at_once(
    two_workers: tuple[str, int], model: str
) -> None:
    """Two kept-alive connections, most likely on different workers: the follow-up goes out
    on the other connection the moment the first answer is in, before the storing worker's
    batched commit (storage/responses.py) has run."""
    url, _ = two_workers
    with httpx.Client(timeout=30) as one, httpx.Client(timeout=30) as other:
        for turn in range(16):
            first = one.post(
                url + "/v1/responses", headers=HEADERS, json={"model": model, "input": f"t{turn}"}
            )
            assert first.status_code == 200, first.text
            chained = {"model": model, "input": "again", "previous_response_id": first.json()["id"]}
            second = other.post(url + "/v1/responses", headers=HEADERS, json=chained)
            assert second.status_code == 200, second.text
            assert second.json()["previous_response_id"] == first.json()["id"]
            one, other = other, one
