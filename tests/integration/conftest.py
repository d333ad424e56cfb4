from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.media_helpers import FileServer
from tests.integration.servers import (
    STATIC_KEY,
    free_port,
    gateway_config,
    start,
    stop,
)


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = httpx.get(f"{self.url}/_emulator/requests").json()["requests"]
        return data

    def last(self) -> dict[str, Any]:
        return self.requests()[-1]

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_emulator/requests")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    # Paced, so a long stream is still running when a test's client walks away from it.
    proc = start(["emulator", "--port", str(port), "--tokens-per-second", "1000"], url + "/", log)
    yield Emulator(url)
    stop(proc)


class Gateway:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log


def serving(
    workdir: Path, emulator: Emulator, extra: str = "", database: str = ""
) -> Iterator[Gateway]:
    """A gateway on the test config (plus `extra` YAML) for a fixture to `yield from`; on
    `database` (a URL) when given, else on a SQLite file in `workdir`."""
    config = workdir / "polyrelay.yaml"
    config.write_text(
        gateway_config(emulator.url, database or workdir / "polyrelay.db", extra=extra)
    )
    yield from serving_config(config)


def serving_config(config: Path) -> Iterator[Gateway]:
    """A gateway on `config`, its log beside it, for a fixture to `yield from`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = config.parent / "gateway.log"
    proc = start(["serve", "--config", str(config), "--port", str(port)], url + "/", log)
    yield Gateway(url, log)
    stop(proc)


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    """A local file server for media URLs (the gateways that fetch them allow-list it)."""
    with FileServer().running() as server:
        yield server


@pytest.fixture(scope="session")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(tmp_path_factory.mktemp("gateway"), emulator)


@pytest.fixture
def api_key() -> str:
    return STATIC_KEY
