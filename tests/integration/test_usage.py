"""Usage accounting end to end: the official SDKs → a gateway with priced models → the
emulator, on the IR path and the fast path, streamed and not; then GET /v1/usage and the
`polyrelay usage` CLI. The emulator's counts are deterministic: "hello there" is 2 input
tokens and its reply "You said: hello there" 4 output tokens."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import (
    LIMITED_KEY,
    free_port,
    gateway_config,
    new_key,
    start,
    stop,
)

PRICES = {  # USD per million tokens: (input, output)
    "gpt-4o-mini": (2.0, 8.0),
    "gpt-5-mini": (1.0, 10.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "gemini-2.5-flash": (0.5, 2.0),
}


class Priced:
    def __init__(self, url: str, config: Path, db: Path) -> None:
        self.url = url
        self.config = config
        self.db = db

    def new_key(self) -> tuple[str, str]:
        """A fresh key (id, secret), so every test sees only its own usage."""
        return new_key(self.db, "usage-test")

    def usage(self, secret: str, **params: str) -> httpx.Response:
        return httpx.get(
            self.url + "/v1/usage", params=params, headers={"authorization": f"Bearer {secret}"}
        )


@pytest.fixture(scope="module")
def priced(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Priced]:
    workdir = tmp_path_factory.mktemp("usage")
    text = gateway_config(emulator.url, workdir / "polyrelay.db")
    for model, (inp, out) in PRICES.items():
        old = f"  {model}: {{provider: "
        assert old in text
        text = text.replace(
            old, f"  {model}: {{input_price: {inp}, output_price: {out}, provider: "
        )
    config = workdir / "polyrelay.yaml"
    config.write_text(text)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        ["serve", "--config", str(config), "--port", str(port)], url + "/", workdir / "log"
    )
    yield Priced(url, config, workdir / "polyrelay.db")
    stop(proc)


def cost(model: str, inp: int, out: int) -> float:
    price_in, price_out = PRICES[model]
    return (inp * price_in + out * price_out) / 1e6


def wait_usage(priced: Priced, secret: str, requests: int) -> list[dict[str, Any]]:
    """The key's usage by model once `requests` rows are in (a stream's row is written
    when its response closes, just after the client has read the end)."""
    deadline = time.monotonic() + 5
    while True:
        response = priced.usage(secret)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        if sum(d["requests"] for d in data) >= requests or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


def chat(priced: Priced, secret: str, model: str, stream: bool, n: int = 1) -> None:
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=secret, max_retries=0)
    messages: Any = [{"role": "user", "content": "hello there"}]
    if stream:
        chunks = list(
            client.chat.completions.create(model=model, messages=messages, stream=True, n=n)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "hello there" in text
    else:
        result = client.chat.completions.create(model=model, messages=messages, n=n)
        assert result.choices[0].message.content == "You said: hello there"


def messages(priced: Priced, secret: str, model: str, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=priced.url, api_key=secret, max_retries=0)
    kwargs: Any = {"model": model, "max_tokens": 100}
    kwargs["messages"] = [{"role": "user", "content": "hello there"}]
    if stream:
        with client.messages.stream(**kwargs) as events:
            assert events.get_final_text() == "You said: hello there"
    else:
        result = client.messages.create(**kwargs)
        assert result.content[0].type == "text" and result.content[0].text.endswith("there")


def responses(priced: Priced, secret: str, model: str, stream: bool) -> None:
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=secret, max_retries=0)
    if stream:
        events = list(client.responses.create(model=model, input="hello there", stream=True))
        assert events[-1].type == "response.completed"
    else:
        result = client.responses.create(model=model, input="hello there")
        assert result.output_text == "You said: hello there"


Call = Callable[[Priced, str, str, bool], None]
CASES: list[Any] = [
    # (client protocol, model, path): chat→openai, messages→anthropic and
    # responses→openai-responses are the fast path; the rest go through the IR.
    pytest.param(chat, "gpt-4o-mini", id="chat-openai-fast"),
    pytest.param(chat, "gpt-5-mini", id="chat-responses-ir"),
    pytest.param(chat, "claude-sonnet-4-5", id="chat-anthropic-ir"),
    pytest.param(chat, "gemini-2.5-flash", id="chat-gemini-ir"),
    pytest.param(messages, "claude-sonnet-4-5", id="messages-anthropic-fast"),
    pytest.param(messages, "gpt-4o-mini", id="messages-openai-ir"),
    pytest.param(responses, "gpt-5-mini", id="responses-responses-fast"),
    pytest.param(responses, "gemini-2.5-flash", id="responses-gemini-ir"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("call", "model"), CASES)
def test_usage_recorded(priced: Priced, call: Call, model: str, stream: bool) -> None:
    _, secret = priced.new_key()
    call(priced, secret, model, stream)
    call(priced, secret, model, stream)
    [row] = wait_usage(priced, secret, 2)
    assert row["group"] == model
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 4, 8)
    assert row["cost_usd"] == pytest.approx(cost(model, 4, 8))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_usage_sums_parallel_choices(priced: Priced, stream: bool) -> None:
    """n=2 on an upstream without `n`: two upstream calls, one row with both usages."""
    _, secret = priced.new_key()
    chat(priced, secret, "claude-sonnet-4-5", stream, n=2)
    [row] = wait_usage(priced, secret, 1)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (1, 4, 8)


def test_upstream_error_recorded_with_status_and_no_tokens(priced: Priced) -> None:
    key_id, secret = priced.new_key()
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[[error 429]]"}]
        )
    [row] = wait_usage(priced, secret, 1)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (1, 0, 0)
    assert row["cost_usd"] == 0
    with sqlite3.connect(priced.db) as conn:
        stored = conn.execute(
            "SELECT status, stream, provider FROM usage WHERE key_id = ?", (key_id,)
        ).fetchall()
    assert stored == [(429, 0, "emu-openai")]


def test_request_rejected_before_the_upstream_is_not_recorded(priced: Priced) -> None:
    _, secret = priced.new_key()
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert priced.usage(secret).json() == {"object": "list", "data": []}


def test_usage_is_scoped_to_the_key_and_grouped(priced: Priced) -> None:
    key_id, secret = priced.new_key()
    chat(priced, secret, "gpt-4o-mini", False)
    messages(priced, secret, "claude-sonnet-4-5", False)
    data = wait_usage(priced, secret, 2)
    assert [d["group"] for d in data] == ["claude-sonnet-4-5", "gpt-4o-mini"]
    by_key = priced.usage(secret, group_by="key").json()["data"]
    assert [(d["group"], d["requests"]) for d in by_key] == [(key_id, 2)]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    by_day = priced.usage(secret, group_by="day", since=today).json()["data"]
    assert [(d["group"], d["input_tokens"]) for d in by_day] == [(today, 4)]
    assert priced.usage(secret, since="2999-01-01").json()["data"] == []
    # Another key sees none of it (the static limited key made no requests here).
    assert priced.usage(LIMITED_KEY).json() == {"object": "list", "data": []}


def test_usage_endpoint_errors_name_the_field(priced: Priced) -> None:
    _, secret = priced.new_key()
    bad = priced.usage(secret, group_by="week")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "group_by"
    bad = httpx.get(
        priced.url + "/v1/usage",
        params={"since": "yesterday"},
        headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["type"] == "error" and "since" in body["error"]["message"]
    assert priced.usage("sk-wrong").status_code == 401
    # A time past any 64-bit column is refused, not a database fault.
    huge = priced.usage(secret, since="9" * 30)
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "since"


def test_usage_cli(priced: Priced) -> None:
    key_id, secret = priced.new_key()
    chat(priced, secret, "gemini-2.5-flash", False)
    chat(priced, secret, "gemini-2.5-flash", True)
    wait_usage(priced, secret, 2)
    time.sleep(0.1)  # GET /v1/usage above already committed the parked rows
    command = [sys.executable, "-m", "polyrelay", "usage", "--config", str(priced.config)]
    out = subprocess.run(
        [*command, "--key", key_id, "--group-by", "model", "--since", "2020-01-01"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][:4] == ["GROUP", "REQUESTS", "INPUT", "OUTPUT"]
    assert lines[1][:4] == ["gemini-2.5-flash", "2", "4", "8"]
    assert lines[1][-1] == f"{cost('gemini-2.5-flash', 4, 8):.6f}"
    assert lines[-1][:4] == ["TOTAL", "2", "4", "8"]
    empty = subprocess.run(
        [*command, "--key", key_id, "--model", "gpt-4o-mini"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert empty.stdout.strip() == "no usage recorded"
    bad = subprocess.run([*command, "--since", "someday"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--since" in bad.stderr
