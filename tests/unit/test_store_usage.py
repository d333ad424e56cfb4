"""The UsageStore on both backends: batched writes, aggregation per group (the same
values and day strings on each), key scoping, cost math."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from tests.backends import is_postgres, query

from polyrelay.ir import Usage
from polyrelay.settings import ModelConfig
from polyrelay.storage import Database, UsageGroup, UsageRecord, open_database
from polyrelay.storage.migrations import MIGRATIONS, migrate
from polyrelay.storage.usage import cost_usd, parse_since

DAY = 86_400
T0 = 1_750_000_000 - 1_750_000_000 % DAY  # a UTC midnight


def row(rid: str, key: str = "k1", model: str = "m1", at: int = T0, **kw: object) -> UsageRecord:
    fields: dict[str, object] = {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5}
    fields.update(kw)
    return UsageRecord(
        id=rid,
        key_id=key,
        model=model,
        provider="p",
        created_at=at,
        **fields,  # type: ignore[arg-type]
    )


def _prices(
    input_price: float | None,
    output_price: float | None,
    cache_read_price: float | None = None,
    cache_write_price: float | None = None,
) -> ModelConfig:
    return ModelConfig(
        name="m",
        provider="p",
        model="m",
        input_price=input_price,
        output_price=output_price,
        cache_read_price=cache_read_price,
        cache_write_price=cache_write_price,
    )


def test_cost_math() -> None:
    assert cost_usd(Usage(input_tokens=1_000_000, output_tokens=500_000), _prices(3, 15)) == (
        pytest.approx(10.5)
    )
    assert cost_usd(Usage(input_tokens=2, output_tokens=4), _prices(2, 8)) == pytest.approx(36e-6)
    assert cost_usd(Usage(input_tokens=100, output_tokens=100), _prices(None, None)) is None
    missing_is_free = _prices(1, None)
    assert cost_usd(Usage(input_tokens=10**6, output_tokens=10**6), missing_is_free) == 1.0
    assert cost_usd(Usage(), _prices(3, 15)) == 0


def test_cache_reads_and_writes_go_at_their_own_prices() -> None:
    """Anthropic bills a cache read at a tenth of the input price and a 5-minute write at
    1.25 times it; every input token went at the input price, so a Claude Code session
    (mostly cache reads) was recorded at several times its bill."""
    usage = Usage(
        input_tokens=1_000_000 + 300_000 + 50_000,  # the cache included, as OpenAI counts
        output_tokens=100_000,
        cache_read_tokens=300_000,
        cache_write_tokens=50_000,
    )
    priced = cost_usd(usage, _prices(3.0, 15.0, cache_read_price=0.3, cache_write_price=3.75))
    assert priced == pytest.approx(3.0 + 0.09 + 0.1875 + 1.5)
    # Unset cache prices: the input price, as before.
    assert cost_usd(usage, _prices(3.0, 15.0)) == pytest.approx(1.35 * 3.0 + 1.5)
    # Free cache reads are priced 0, not at the input price.
    assert cost_usd(usage, _prices(3.0, 15.0, cache_read_price=0)) == pytest.approx(
        1.05 * 3.0 + 1.5
    )


def test_parse_since() -> None:
    assert parse_since("1970-01-02") == DAY
    assert parse_since("12345") == 12345
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_since("2024-13-01")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    yield opened
    opened.close()


def test_summary_groups_and_filters(db: Database) -> None:
    usage = db.usage
    usage.record(row("a", reasoning_tokens=2, cache_read_tokens=3))
    usage.record(row("b", model="m2", at=T0 + DAY, cost_usd=None))
    usage.record(row("c", key="k2", web_search_requests=1))
    usage.record(row("d", model="m2", at=T0 + DAY, cost_usd=0.25, status=429))
    by_model = usage.summary(key_id="k1")
    assert [(g.group, g.requests, g.input_tokens, g.output_tokens) for g in by_model] == [
        ("m1", 1, 10, 5),
        ("m2", 2, 20, 10),
    ]
    assert by_model[0].reasoning_tokens == 2 and by_model[0].cache_read_tokens == 3
    assert by_model[1].cost_usd == pytest.approx(0.25)  # NULL (unpriced) rows add nothing
    by_key = usage.summary(group_by="key")
    assert [(g.group, g.requests, g.web_search_requests) for g in by_key] == [
        ("k1", 3, 0),
        ("k2", 1, 1),
    ]
    by_day = usage.summary(group_by="day", key_id="k1")
    first = time.strftime("%Y-%m-%d", time.gmtime(T0))
    second = time.strftime("%Y-%m-%d", time.gmtime(T0 + DAY))
    assert [(g.group, g.requests) for g in by_day] == [(first, 1), (second, 2)]
    assert [g.requests for g in usage.summary(since=T0 + DAY)] == [2]
    assert usage.summary(model="m1", key_id="k2")[0].requests == 1
    assert usage.summary(key_id="nobody") == []
    counts = [value for g in by_model + by_key + by_day for value in totals(g)]
    assert all(type(value) is int for value in counts)  # not PostgreSQL's NUMERIC sums
    assert all(type(g.cost_usd) is float for g in by_model)


def totals(group: UsageGroup) -> tuple[int, ...]:
    return (
        group.requests,
        group.input_tokens,
        group.output_tokens,
        group.cache_read_tokens,
        group.cache_write_tokens,
        group.cache_write_1h_tokens,
        group.reasoning_tokens,
        group.web_search_requests,
    )


def test_summary_sums_the_1h_cache_writes_apart(db: Database) -> None:
    """The 1-hour part of the cache writes (priced apart) is a total of its own, beside
    all the writes, on both backends."""
    db.usage.record(row("a", cache_write_tokens=300, cache_write_1h_tokens=200))
    db.usage.record(row("b", cache_write_tokens=50))
    db.usage.record(row("c", cache_write_tokens=70, cache_write_1h_tokens=70))
    [group] = db.usage.summary()
    assert (group.cache_write_tokens, group.cache_write_1h_tokens) == (420, 270)
    assert type(group.cache_write_1h_tokens) is int


def test_rows_from_before_the_1h_column_read_no_1h_writes(tmp_path: Path) -> None:
    """A database from before migration 0014: its rows' split was not kept, so 0."""
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    migrate(conn, 1, tuple((name, step) for name, step in MIGRATIONS if name < "0014"))
    conn.execute(
        "INSERT INTO usage (id, key_id, model, provider, created_at, input_tokens,"
        " output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"
        " web_search_requests, cost_usd, status, stream)"
        " VALUES ('old', 'k1', 'm1', 'p', 1, 10, 5, 0, 4, 0, 0, NULL, 200, 0)"
    )
    conn.close()
    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        database.usage.record(row("new", cache_write_tokens=3, cache_write_1h_tokens=3))
        [group] = database.usage.summary()
    finally:
        database.close()
    assert (group.requests, group.cache_write_tokens, group.cache_write_1h_tokens) == (2, 7, 3)


def test_days_are_utc_dates_at_their_edges(database_url: str) -> None:
    # On PostgreSQL, in a session whose time zone is far from UTC: days are still UTC's.
    url = f"{database_url}{quote(' -ctimezone=Pacific/Kiritimati')}"
    db = open_database(url if is_postgres(database_url) else database_url)
    try:
        for n, at in enumerate((T0 - 1, T0, T0 + DAY - 1, T0 + DAY, 0, 2**31 + 1)):
            db.usage.record(row(f"r{n}", at=at))
        days = [(g.group, g.requests) for g in db.usage.summary(group_by="day")]
    finally:
        db.close()

    def day(at: int) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(at))

    assert days == [
        ("1970-01-01", 1),
        (day(T0 - 1), 1),
        (day(T0), 2),
        (day(T0 + DAY), 1),
        ("2038-01-19", 1),
    ]
    assert day(T0 - 1) < day(T0) < day(T0 + DAY)


def test_unpriced_group_has_no_cost(db: Database) -> None:
    db.usage.record(row("a", cost_usd=None))
    [group] = db.usage.summary()
    assert group.cost_usd is None


def committed(url: str) -> list[tuple[str, int, int]]:
    """The usage rows another process sees."""
    return query(url, "SELECT id, status, stream FROM usage ORDER BY id")


def test_writer_thread_commits_in_the_background(db: Database, database_url: str) -> None:
    for i in range(50):
        db.usage.record(row(f"r{i:02d}", stream=i % 2 == 1, status=200))
    deadline = time.monotonic() + 5
    while len(committed(database_url)) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    rows = committed(database_url)
    assert len(rows) == 50 and rows[1] == ("r01", 200, 1)


def test_close_flushes_parked_rows(database_url: str) -> None:
    db = open_database(database_url)
    db.usage.record(row("last", status=502))
    db.close()
    assert committed(database_url) == [("last", 502, 0)]


def test_costs_read_as_their_decimals(db: Database) -> None:
    """4 input and 8 output tokens at gpt-4o-mini's 0.15 / 0.60 per million come to
    5.4e-06 (the float sum says 5.399999999999999e-06), and so do their sums."""
    assert cost_usd(Usage(input_tokens=4, output_tokens=8), _prices(0.15, 0.6)) == 5.4e-06
    for rid in ("a", "b", "c"):
        db.usage.record(row(rid, cost_usd=0.1))
    assert [g.cost_usd for g in db.usage.summary()] == [0.3]
