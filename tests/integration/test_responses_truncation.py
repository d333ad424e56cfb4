"""`truncation` against a model's `context_window`, on a gateway of our own whose models
have a 50-token window (the estimate is characters / 4, see docs/responses.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import (
    MODELS_BY_PROVIDER,
    STATIC_KEY,
    free_port,
    gateway_config,
    start,
    stop,
)

TINY = {provider: f"tiny-{provider}" for provider in MODELS_BY_PROVIDER}
_PROVIDER_NAMES = {
    "openai": "emu-openai",
    "openai-responses": "emu-responses",
    "anthropic": "emu-anthropic",
    "gemini": "emu-gemini",
}
# About 20 tokens each, 60 for a turn with its echoed reply: one turn fits in 50, two do not.
FIRST = "alpha " * 13
SECOND = "omega " * 13


@pytest.fixture(scope="module")
def tiny_url(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("truncation")
    lines = "".join(
        f"  {TINY[p]}: {{provider: {name}, model: {MODELS_BY_PROVIDER[p]}, context_window: 50}}\n"
        for p, name in _PROVIDER_NAMES.items()
    )
    config = gateway_config(emulator.url, workdir / "db.sqlite").replace(
        "models:\n", "models:\n" + lines, 1
    )
    (workdir / "polyrelay.yaml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        ["serve", "--config", str(workdir / "polyrelay.yaml"), "--port", str(port)],
        url + "/",
        Path(workdir / "gateway.log"),
    )
    yield url
    stop(proc)


@pytest.fixture
def client(tiny_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_url + "/v1", api_key=STATIC_KEY, max_retries=0)


@pytest.mark.parametrize("provider", list(MODELS_BY_PROVIDER))
def test_disabled_truncation_rejects_an_overlong_chain(
    client: openai.OpenAI, provider: str
) -> None:
    first = client.responses.create(model=TINY[provider], input=FIRST)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=TINY[provider], input=SECOND, previous_response_id=first.id)
    body = info.value.body
    assert isinstance(body, dict)
    assert body["code"] == "context_length_exceeded" and body["param"] == "input"


@pytest.mark.parametrize("provider", list(MODELS_BY_PROVIDER))
@pytest.mark.parametrize("stream", [False, True])
def test_auto_truncation_drops_the_oldest_turns(
    client: openai.OpenAI, emulator: Emulator, provider: str, stream: bool
) -> None:
    first = client.responses.create(model=TINY[provider], input=FIRST)
    kwargs = {
        "model": TINY[provider],
        "input": SECOND,
        "previous_response_id": first.id,
        "truncation": "auto",
    }
    if stream:
        events = list(client.responses.create(stream=True, **kwargs))  # type: ignore[call-overload]
        result = events[-1].response
    else:
        result = client.responses.create(**kwargs)  # type: ignore[call-overload]
    assert result.output_text == "You said: " + SECOND.strip()
    sent = str(emulator.last()["body"])
    assert "omega" in sent and "alpha" not in sent
    assert result.truncation == "auto"


def test_a_single_turn_too_long_fails_in_both_modes(client: openai.OpenAI) -> None:
    for truncation in ("auto", "disabled"):
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=TINY["openai"], input="word " * 80, truncation=truncation)
        assert isinstance(info.value.body, dict)
        assert info.value.body["code"] == "context_length_exceeded"


def test_many_turns_are_truncated_in_linear_time(client: openai.OpenAI, emulator: Emulator) -> None:
    """10,000 short turns: one estimate per candidate turn took the event loop minutes."""
    turns = [{"role": "user", "content": f"turn {i:05d}"} for i in range(10_000)]
    started = time.monotonic()
    result = client.responses.create(
        model=TINY["openai"],
        input=turns,  # type: ignore[arg-type]
        truncation="auto",
        timeout=30,
    )
    assert time.monotonic() - started < 5
    assert result.status == "completed"
    # 10 characters a turn: the last 20 fill the 50-token window.
    assert emulator.last()["body"]["messages"] == turns[-20:]
