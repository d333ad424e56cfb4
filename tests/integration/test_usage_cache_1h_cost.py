"""1-hour prompt-cache writes are priced at `cache_write_1h_price` in the usage rows, end to
end on the emulator's cache simulation (which reports `cache_creation` split by ttl): a
Messages request with a 1h breakpoint (the fast path, whole and streamed) and a Chat
client's `prompt_cache_retention: "24h"` (translated: the gateway sends `ttl: "1h"`) are
recorded at the 1h price, a 5-minute write at `cache_write_price`. Before, every write
went at `cache_write_price`: a 1h session's cost was too low.

Every prompt opens with a word of its own: the emulator's cache is per upstream key and
model, which every test of the session shares."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.cache_usage import UsageReader, words
from tests.integration.conftest import Emulator, serving_config
from tests.integration.servers import gateway_config

_MODEL = "sonnet-priced"
_PRICES = (
    "input_price: 3, output_price: 15, cache_read_price: 0.3, cache_write_price: 3.75,"
    " cache_write_1h_price: 6"
)
_PRICED = f"  {_MODEL}: {{provider: emu-anthropic, model: claude-sonnet-4-5, {_PRICES}}}\n"
_5M, _1H = 3.75, 6.0
_COLUMNS = "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd"


@pytest.fixture(scope="module")
def priced(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsageReader]:
    workdir = tmp_path_factory.mktemp("usage-cache-1h")
    db = workdir / "polyrelay.db"
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, db).replace("models:\n", f"models:\n{_PRICED}"))
    for gateway in serving_config(config):
        yield UsageReader(gateway, db)


def _cost(row: tuple[Any, ...], write_price: float) -> float:
    """The row's cost with its writes at `write_price`, computed here."""
    input_, output, read, write, _ = row
    return ((input_ - read - write) * 3 + read * 0.3 + write * write_price + output * 15) / 1e6


def _system(ttl: str | None) -> Any:
    marker = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    return [{"type": "text", "text": words(1200), "cache_control": marker}]


def test_messages_1h_writes_at_the_1h_price_5m_at_the_5m_price(priced: UsageReader) -> None:
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
    rows = priced.rows(key, 3, _COLUMNS)
    assert [row[3] for row in rows] == [1200, 1200, 1200]
    first, second, third = rows
    assert first[4] == pytest.approx(_cost(first, _1H))
    assert second[4] == pytest.approx(_cost(second, _1H))
    assert third[4] == pytest.approx(_cost(third, _5M))


def test_chat_24h_retention_writes_at_the_1h_price(priced: UsageReader) -> None:
    """Translated: the retention becomes the automatic marker's `ttl: "1h"`, and the
    Anthropic provider reads the split of the writes from the answer."""
    key = priced.new_key()
    client = openai.OpenAI(base_url=priced.url + "/v1", api_key=key[1], max_retries=0)
    messages: Any = [
        {"role": "system", "content": words(1200)},
        {"role": "user", "content": "hi"},
    ]
    usage = client.chat.completions.create(
        model=_MODEL, messages=messages, extra_body={"prompt_cache_retention": "24h"}
    ).usage
    assert usage is not None
    [row] = priced.rows(key, 1, _COLUMNS)
    assert row[3] >= 1200
    assert row[4] == pytest.approx(_cost(row, _1H))


_MARKDOWN = {
    "type": "document",
    "source": {"type": "base64", "media_type": "text/markdown", "data": "IyBOb3Rlcw=="},
}
"""A block only the gateway converts: the request leaves the fast path (docs/messages.md)."""


def test_a_translated_messages_answer_splits_its_writes(priced: UsageReader) -> None:
    """Off the fast path the Messages answer is the gateway's rendering of the IR usage:
    its `cache_creation` tells the 1-hour writes apart, whole and in message_start (the
    message_delta leaves it out, as Anthropic's does)."""
    key = priced.new_key()
    client = anthropic.Anthropic(base_url=priced.url, api_key=key[1], max_retries=0)
    content: Any = [_MARKDOWN, {"type": "text", "text": "hi"}]
    ask: Any = {
        "model": _MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": content}],
    }
    split = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1200}
    usage = client.messages.create(**ask, system=_system("1h")).usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.model_dump() == split
    events = list(client.messages.create(**ask, system=_system("1h"), stream=True))
    [start] = [e.message.usage for e in events if e.type == "message_start"]
    assert start.cache_creation is not None
    assert start.cache_creation.model_dump() == split
    [delta] = [e.usage for e in events if e.type == "message_delta"]
    assert getattr(delta, "cache_creation", None) is None  # told once, as Anthropic does
    five_minutes = client.messages.create(**ask, system=_system(None)).usage
    assert five_minutes.cache_creation is not None
    assert five_minutes.cache_creation.ephemeral_5m_input_tokens == 1200


def test_the_usage_report_shows_the_1h_writes(priced: UsageReader) -> None:
    """GET /v1/usage and `polyrelay usage` tell the 1-hour writes beside all the writes."""
    key = priced.new_key()
    client = anthropic.Anthropic(base_url=priced.url, api_key=key[1], max_retries=0)
    ask: Any = {"model": _MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    client.messages.create(**ask, system=_system("1h"))
    client.messages.create(**ask, system=_system(None))
    priced.rows(key, 2)
    headers = {"authorization": f"Bearer {key[1]}"}
    [report] = httpx.get(priced.url + "/v1/usage", headers=headers).json()["data"]
    assert (report["cache_write_tokens"], report["cache_write_1h_tokens"]) == (2400, 1200)
    config = priced.db.parent / "polyrelay.yaml"
    out = subprocess.run(
        [sys.executable, "-m", "polyrelay", "usage", "--config", str(config), "--key", key[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    header, mine, total = (line.split() for line in out.splitlines())
    column = header.index("CACHE_WRITE_1H")
    assert header[column - 1] == "CACHE_WRITE"
    assert mine[column - 1 : column + 1] == total[column - 1 : column + 1] == ["2400", "1200"]
