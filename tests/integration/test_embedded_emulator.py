"""`polyrelay serve` on its embedded default with no provider key: the emulator mounted at
/_upstream/emulator answers only the gateway itself (a secret made at start-up), never a
client, so no client reads another's prompts from its request log. With --workers N every
worker accepts every other worker's calls: the secret travels with the settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.servers import free_port, stop, wait_http

MODELS = ("gpt-4o-mini", "gpt-5-mini", "claude-opus-4-6", "gemini-2.5-flash")


class Embedded:
    def __init__(self, url: str, demo_key: str) -> None:
        self.url, self.demo_key = url, demo_key

    def chat(self, model: str, text: str) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        headers = {"authorization": f"Bearer {self.demo_key}"}
        # A client per call: a new connection, so --workers spreads the calls.
        return httpx.post(self.url + "/v1/chat/completions", json=body, headers=headers)


def _serve(workdir: Path, *extra: str) -> Iterator[Embedded]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": ""}
    env.pop("POLYRELAY_CONFIG", None)
    log = workdir / "log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polyrelay", "serve", "--port", str(port), *extra],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    try:
        wait_http(url + "/", proc)
        found = re.search(r"Demo key \(shown once\): (\S+)", log.read_text())
        assert found, log.read_text()
        yield Embedded(url, found.group(1))
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    yield from _serve(tmp_path_factory.mktemp("embedded"))


def test_every_emulated_model_answers_through_the_gateway(embedded: Embedded) -> None:
    for model in MODELS:
        answer = embedded.chat(model, f"hello {model}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == f"You said: hello {model}"


@pytest.mark.parametrize("key", [None, "wrong", "demo"])
def test_the_mount_refuses_clients(embedded: Embedded, key: str | None) -> None:
    embedded.chat("gpt-4o-mini", "private prompt")
    secret = embedded.demo_key if key == "demo" else key  # a client key is no upstream key
    mount = embedded.url + "/_upstream/emulator"
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    for header in ("authorization", "x-api-key", "x-goog-api-key"):
        value = f"Bearer {secret}" if header == "authorization" else secret
        headers = {} if secret is None else {header: value}
        for method in ("GET", "DELETE"):
            log = httpx.request(method, mount + "/_emulator/requests", headers=headers)
            assert log.status_code in (401, 403), log.text  # 403 in Gemini's words
            assert "private prompt" not in log.text
        answer = httpx.post(mount + "/v1/chat/completions", json=chat, headers=headers)
        assert answer.status_code in (401, 403), answer.text
    refused = httpx.post(mount + "/v1/chat/completions", json=chat, headers={"x-api-key": "x"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    messages = httpx.post(mount + "/v1/messages", json={}, headers={"x-api-key": str(secret)})
    assert messages.status_code == 401
    assert messages.json()["error"]["type"] == "authentication_error"
    gemini = httpx.post(f"{mount}/v1beta/models/gemini-2.5-flash:generateContent?key={secret}")
    assert gemini.status_code == 403 and gemini.json()["error"]["status"] == "PERMISSION_DENIED"


def test_a_restart_revokes_its_own_demo_key_not_an_operators_named_demo(
    tmp_path: Path,
) -> None:
    """The demo key is revoked at the next start by its mark, not its name: a key the
    operator made with `keys create --name demo` keeps working."""
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": ""}
    env.pop("POLYRELAY_CONFIG", None)
    for first in _serve(tmp_path):
        old_demo_key = first.demo_key
    created = subprocess.run(
        [sys.executable, "-m", "polyrelay", "keys", "create", "--name", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    operator_key = created.stdout.splitlines()[1]
    for second in _serve(tmp_path):
        assert second.demo_key != old_demo_key
        for key, status in ((operator_key, 200), (old_demo_key, 401), (second.demo_key, 200)):
            answer = Embedded(second.url, key).chat("gpt-4o-mini", "hello")
            assert answer.status_code == status, answer.text


def test_workers_accept_each_others_calls(tmp_path: Path) -> None:
    # Concurrent slow calls keep both workers busy, so some calls reach the other worker's
    # mount (tests/unit/test_server.py checks the shared secret deterministically).
    for embedded in _serve(tmp_path, "--workers", "2"):
        with ThreadPoolExecutor(16) as pool:
            texts = [f"[[delay 200]] call {n}" for n in range(32)]
            answers = list(pool.map(embedded.chat, MODELS * 8, texts))
        assert [answer.status_code for answer in answers] == [200] * 32
