"""A gateway on PostgreSQL across a restart and an outage, seen by its clients.

After `pg_ctl restart` every connection the gateway held is dead, but the server is back:
the first use of each must not cost its request a 503 (the connection is found dead
before the statement is sent, or the statement, a read or a BEGIN, is run once more on a
fresh one). During an outage, a stored response this process still holds parked (answered
to its client, waiting for the database to be written) is served from memory.

The cluster is this module's own: the session's is shared by other tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from polyrelay.auth import KEY_CACHE_SECONDS
from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import STATIC_KEY, gateway_config
from tests.postgres_server import PrivateCluster, private_cluster

HELLO: Any = [{"role": "user", "content": "hello"}]
PARALLEL = 8
"""More requests at once than the gateway keeps connections for its event loop's calls
(LOOP_CONNECTIONS), so every one of them is opened before the restart and met after it."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    yield from private_cluster("polyrelay-pg-reads-")


@pytest.fixture(scope="module")
def gateway(
    cluster: PrivateCluster, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The task loops poll seldom: a poll that met a broken connection first would spare
    the request this test makes."""
    workdir = tmp_path_factory.mktemp("gateway")
    config = workdir / "polyrelay.yaml"
    quiet = "tasks: {poll_seconds: 600}\n"
    config.write_text(gateway_config(emulator.url, cluster.url, extra=quiet))
    yield from serving_config(config)


def new_key(gateway: Gateway, *, limited: bool = True) -> str:
    """A key of the database, `limited` by rpm: a request with it looks the key up (once
    per cache period) and, limited, counts itself in the database before it reaches the
    upstream."""
    command = [sys.executable, "-m", "polyrelay", "keys", "create", "--name", "restart"]
    command += ["--rpm", "1000"] if limited else []
    command += ["--config", str(gateway.log.parent / "polyrelay.yaml")]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return next(word for word in out.split() if word.startswith("sk-"))


class Client:
    def __init__(self, gateway: Gateway, key: str = STATIC_KEY) -> None:
        self._http = httpx.Client(
            base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=30
        )

    def get(self, path: str) -> httpx.Response:
        return self._http.get(path)

    def chat(self) -> httpx.Response:
        return self._http.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}
        )

    def store(self, text: str) -> str:
        answer = self._http.post(
            "/v1/responses", json={"model": "gpt-4o-mini", "input": text, "store": True}
        )
        assert answer.status_code == 200, answer.text
        response_id: str = answer.json()["id"]
        return response_id


def statuses(calls: dict[str, Callable[[], httpx.Response]]) -> dict[str, list[int]]:
    """Each call PARALLEL times at once: the status codes it got."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            name: [pool.submit(call) for _ in range(PARALLEL)] for name, call in calls.items()
        }
        return {name: [f.result().status_code for f in done] for name, done in futures.items()}


def test_no_request_meets_a_connection_the_restart_broke(
    cluster: PrivateCluster, gateway: Gateway
) -> None:
    client = Client(gateway)
    stored = client.store("kept across the restart")
    limited = Client(gateway, new_key(gateway))
    unseen = Client(gateway, new_key(gateway))  # authenticating it reads the database
    calls: dict[str, Callable[[], httpx.Response]] = {
        "GET /v1/responses/{id}": lambda: client.get(f"/v1/responses/{stored}"),
        "GET /v1/responses/{id}/input_items": lambda: client.get(
            f"/v1/responses/{stored}/input_items"
        ),
        "GET /v1/usage": lambda: client.get("/v1/usage"),
        "POST /v1/chat/completions (limited key)": limited.chat,
    }
    everything_ok = {name: [200] * PARALLEL for name in calls}
    assert statuses(calls) == everything_ok  # every loop connection is open

    cluster.ctl("-m", "fast", "-w", "restart")

    calls["POST /v1/chat/completions (new key)"] = unseen.chat
    after = {name: [200] * PARALLEL for name in calls}
    assert statuses(calls) == after  # every loop connection the restart broke is met
    assert {name: call().status_code for name, call in calls.items()} == dict.fromkeys(calls, 200)


def test_a_parked_response_is_served_from_memory_in_an_outage(
    cluster: PrivateCluster, gateway: Gateway
) -> None:
    client = Client(gateway)
    client.store("before")
    assert client.get("/v1/usage").status_code == 200
    in_use = Client(gateway, new_key(gateway, limited=False))
    assert in_use.chat().status_code == 200  # its lookup is cached
    cluster.stop()
    try:
        # Calls that need the database meet the outage, and the connections it ended go:
        # the ones below find none left.
        outage = {"GET /v1/usage": lambda: client.get("/v1/usage")}
        assert statuses(outage) == {"GET /v1/usage": [503] * PARALLEL}
        parked = client.store("during the outage")
        answer = client.get(f"/v1/responses/{parked}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == parked
        answer = client.get(f"/v1/responses/{parked}/input_items")
        assert answer.status_code == 200, answer.text
        [item] = answer.json()["data"]
        assert item["content"][0]["text"] == "during the outage"
        # What the process does not hold still needs the database.
        assert client.get("/v1/responses/resp_unknown").status_code == 503
        # A database key in use works on past its 5 s cache (auth.KEY_STALE_SECONDS).
        time.sleep(KEY_CACHE_SECONDS + 0.5)
        answer = in_use.chat()
        assert answer.status_code == 200, answer.text
        assert Client(gateway, "sk-never-seen").chat().status_code == 503
    finally:
        cluster.start()
