"""Shared fixtures: real emulator servers (uvicorn in a background thread) and SDK clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from polyrelay.emulator import create_emulator_app


class EmulatorServer:
    """An emulator served by uvicorn on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self, app: Any = None, **app_options: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app or create_emulator_app(**app_options),
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            http="httptools",
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self) -> EmulatorServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = httpx.get(f"{self.base_url}/_emulator/requests").json()[
            "requests"
        ]
        return log

    def last_request(self) -> dict[str, Any]:
        return self.requests()[-1]


@pytest.fixture(scope="session")
def emulator_server_class() -> type[EmulatorServer]:
    return EmulatorServer


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def paced_emulator() -> Iterator[EmulatorServer]:
    """Sends 50 words a second: slow enough to disconnect in the middle of a stream."""
    server = EmulatorServer(tokens_per_second=50).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(emulator: EmulatorServer) -> str:
    return emulator.base_url


@pytest.fixture(scope="session")
def openai_client(base_url: str) -> Any:
    import openai

    return openai.OpenAI(api_key="sk-test-openai", base_url=f"{base_url}/v1", max_retries=0)


@pytest.fixture(scope="session")
def anthropic_client(base_url: str) -> Any:
    import anthropic

    return anthropic.Anthropic(api_key="sk-test-anthropic", base_url=base_url, max_retries=0)


@pytest.fixture(scope="session")
def genai_client(base_url: str) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key="test-gemini-key",
        http_options=types.HttpOptions(
            base_url=base_url + "/", retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )


@pytest.fixture
def unique() -> Any:
    """Makes text no other test sends, so `[[error ... once]]` memories never collide."""

    def make(text: str) -> str:
        return f"{text} {time.monotonic_ns()}"

    return make
