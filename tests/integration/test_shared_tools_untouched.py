"""The caches that share a client's decoded tools across requests, and so across API keys
(codec.CachedMember, providers/schema_memo.py: the Gemini cleaning, the providers'
Declarations, the Responses echo), change no byte: the same body sent again, by the
same key or another, streamed or not, reaches the upstream exactly as on its first send,
and is answered with the same warnings.

Each body of tool_battery.py goes to every upstream type of the emulator, twice by each of
two keys, whole and streamed (~450 requests, ~10 s). The caches' contents themselves are
compared with fresh decodes in tests/unit/core/test_shared_tools_untouched.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY
from tests.integration.tool_battery import PATHS, battery

_SECOND_KEY = "sk-second-" + "e" * 38
_REPEATS = 2


@pytest.fixture(scope="module")
def two_keys(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The test gateway with a second key (the config's key list goes on)."""
    second = f'  - {{key: "{_SECOND_KEY}", name: second}}\n'
    yield from serving(tmp_path_factory.mktemp("shared-tools"), emulator, extra=second)


def _send(client: httpx.Client, url: str, key: str, protocol: str, body: bytes) -> Any:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if protocol == "messages":
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01", **headers}
    response = client.post(url + PATHS[protocol], content=body, headers=headers)
    return response.status_code, response.text, response.headers.get("polyrelay-warnings")


def _upstream(emulator: Emulator) -> list[tuple[str, str]]:
    """What the upstream received since the last clear: each path and body, as JSON text
    in the order of its members."""
    return [(r["path"], json.dumps(r["body"])) for r in emulator.requests()]


def _echoed_tools(protocol: str, stream: bool, text: str) -> str | None:
    """A Responses answer's echoed tools (the other answers echo none)."""
    if protocol != "responses" or stream:
        return None
    return json.dumps(json.loads(text).get("tools"))


def test_the_upstream_gets_the_same_bytes_on_every_send(
    two_keys: Gateway, emulator: Emulator
) -> None:
    sends = [(key, i) for i in range(_REPEATS) for key in (STATIC_KEY, _SECOND_KEY)]
    failures: list[str] = []
    answered = 0
    with httpx.Client(timeout=30) as client:
        for name, protocol, base in battery():
            for upstream, model in MODELS_BY_PROVIDER.items():
                for stream in (False, True):
                    body = json.dumps({**base, "model": model, "stream": stream}).encode()
                    emulator.clear()
                    results = [_send(client, two_keys.url, k, protocol, body) for k, _ in sends]
                    seen = _upstream(emulator)
                    where = f"{name} on {protocol} to {upstream} (stream={stream})"
                    statuses = {status for status, _, _ in results}
                    if len(statuses) != 1:
                        failures.append(f"{where}: statuses {[r[0] for r in results]}")
                        continue
                    if len({said for _, _, said in results}) != 1:
                        failures.append(f"{where}: the warnings differ")
                    answered += statuses == {200}
                    if len(seen) % len(sends):
                        failures.append(f"{where}: {len(seen)} upstream calls for {len(sends)}")
                        continue
                    per_send = len(seen) // len(sends)
                    first = seen[:per_send]
                    for n in range(1, len(sends)):
                        if seen[n * per_send : (n + 1) * per_send] != first:
                            key, repeat = sends[n]
                            failures.append(f"{where}: send {repeat} of key {key[:10]} differs")
                    echoes = {_echoed_tools(protocol, stream, text) for _, text, _ in results}
                    if len(echoes) != 1:
                        failures.append(f"{where}: the echoed tools differ")
    assert not failures, "\n".join(failures)
    assert answered >= 100  # most of the battery is answered, not refused
