"""1-hour prompt-cache writes are priced at `cache_write_1h_price` in the usage rows, end to
end on the emulator's cache simulation (which reports `cache_creation` split by ttl): a
Messages request with a 1h breakpoint (the fast path, whole and streamed) and a Chat
client's `prompt_cache_retention: "24h"` (translated: the gateway sends `ttl: "1h"`) are
recorded at the 1h price, a 5-minute write at `cache_write_price`. Before, every write
went at `cache_write_price`: a 1h session's cost was too low.

Every prompt opens with a word of its own: the emulator's cache is per upstream key and
model, which every test of the session shares."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from polyrelay.storage import open_database
from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import gateway_config

_MODEL = "sonnet-priced"
_PRICES = (
    "input_price: 3, output_price: 15, cache_read_price: 0.3, cache_write_price: 3.75,"
    " cache_write_1h_price: 6"
)
_PRICED = f"  {_MODEL}: {{provider: emu-anthropic, model: claude-sonnet-4-5, {_PRICES}}}\n"
_5M, _1H = 3.75, 6.0


class Priced:
    def __init__(self, gateway: Gateway, db: Path) -> None:
        self.url = gateway.url
        self.db = db

    def new_key(self) -> tuple[str, str]:
        """A fresh key (id, secret), so each test reads only its own rows."""
        database = open_database(f"sqlite:///{self.db}")
        try:
            key, secret = database.keys.create("cache-1h-test", None)
        finally:
            database.close()
        return key.id, secret

    def rows(self, key: tuple[str, str], count: int) -> list[tuple[int, ...]]:
        """(input, output, read, write) and cost of the key's rows, oldest first, once
        `count` are in (GET /v1/usage commits the rows parked for writing)."""
        deadline = time.monotonic() + 5
        headers = {"authorization": f"Bearer {key[1]}"}
        while True:
            data = httpx.get(self.url + "/v1/usage", headers=headers).json()["data"]
            if sum(d["requests"] for d in data) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
                " cost_usd FROM usage WHERE key_id = ? ORDER BY created_at, rowid",
                (key[0],),
            ).fetchall()
        return [tuple(row) for row in rows]


@pytest.fixture(scope="module")
def priced(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Priced]:
    workdir = tmp_path_factory.mktemp("usage-cache-1h")
    db = workdir / "polyrelay.db"
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, db).replace("models:\n", f"models:\n{_PRICED}"))
    for gateway in serving_config(config):
        yield Priced(gateway, db)


def _words(n: int) -> str:
    return f"{time.monotonic_ns()} " + " ".join(f"w{i}" for i in range(n - 1))


def _cost(row: tuple[Any, ...], write_price: float) -> float:
    """The row's cost with its writes at `write_price`, computed here."""
    input_, output, read, write, _ = row
    return ((input_ - read - write) * 3 + read * 0.3 + write * write_price + output * 15) / 1e6


def _system(ttl: str | None) -> Any:
    marker = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    return [{"type": "text", "text": _words(1200), "cache_control": marker}]


def test_messages_1h_writes_at_the_1h_price_5m_at_the_5m_price(priced: Priced) -> None:
    key = priced.new_key()
    client = anthropic.Anthropic(base_url=priced.url, api_key=key[1], max_retries=0)
    ask: Any = {"model": _MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    one_hour = client.messages.create(**ask, system=_system("1h")).usage
    assert one_hour.cache_creation is not None
    assert one_hour.cache_creation.ephemeral_1h_input_tokens == 1200
    with client.messages.stream(**ask, system=_system("1h")) as stream:
        streamed = stream.get_final_message().usage
    assert streamed.cache_creation_input_tokens == 1200
    five_minutes = client.messages.create(**ask, system=_system(None)).usage
    assert five_minutes.cache_creation is not None
    assert five_minutes.cache_creation.ephemeral_5m_input_tokens == 1200
    rows = priced.rows(key, 3)
    assert [row[3] for row in rows] == [1200, 1200, 1200]
    first, second, third = rows
    assert first[4] == pytest.approx(_cost(first, _1H))
    assert second[4] == pytest.approx(_cost(second, _1H))
    assert third[4] == pytest.approx(_cost(third, _5M))


def test_chat_24h_retention_writes_at_the_1h_price(priced: Priced) -> None:
    """Translated: the retention becomes the automatic marker's `ttl: "1h"`, and the
    Anthropic provider reads the split of the writes from the answer."""
    key = priced.new_key()
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=key[1], max_retries=0)
    messages: Any = [
        {"role": "system", "content": _words(1200)},
        {"role": "user", "content": "hi"},
    ]
    usage = client.chat.completions.create(
        model=_MODEL, messages=messages, extra_body={"prompt_cache_retention": "24h"}
    ).usage
    assert usage is not None
    [row] = priced.rows(key, 1)
    assert row[3] >= 1200
    assert row[4] == pytest.approx(_cost(row, _1H))
