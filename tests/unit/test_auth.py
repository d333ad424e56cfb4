from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Mapping

import pytest
from tests.unit.sqlite_errors import locked_sqlite_error

from polyrelay.auth import Authenticator, generate_secret, hash_secret
from polyrelay.errors import AuthenticationError, PermissionDeniedError
from polyrelay.settings import StaticKey
from polyrelay.storage import ApiKey, KeyLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """A KeyStore holding keys by digest and counting lookups."""

    def __init__(self) -> None:
        self.by_hash: dict[str, ApiKey] = {}
        self.lookups = 0
        self.down: Exception | None = None
        """While set, lookups raise it (the database is out of reach)."""

    def add(
        self, models: tuple[str, ...] | None = None, expires_at: int | None = None
    ) -> tuple[ApiKey, str]:
        secret = generate_secret()
        key = ApiKey(
            id=f"key_{len(self.by_hash)}",
            name="n",
            prefix=secret[:10],
            models=models,
            created_at=1,
            limits=KeyLimits(expires_at=expires_at),
        )
        self.by_hash[hash_secret(secret)] = key
        return key, secret

    def get_by_hash(self, digest: str) -> ApiKey | None:
        self.lookups += 1
        if self.down is not None:
            raise self.down
        return self.by_hash.get(digest)

    def create(self, name: str, models: tuple[str, ...] | None) -> tuple[ApiKey, str]:
        raise NotImplementedError

    def revoke(self, key_id: str) -> bool:
        raise NotImplementedError

    def list(self) -> list[ApiKey]:
        return list(self.by_hash.values())


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def authenticate(authenticator: Authenticator, headers: Mapping[str, str]) -> ApiKey:
    return asyncio.run(authenticator.authenticate(headers))


def make(
    store: CountingStore,
    clock: FakeClock,
    *static: StaticKey,
    cache_ttl: float = 5.0,
    cache_size: int = 100,
) -> Authenticator:
    return Authenticator(store, static, clock, cache_ttl=cache_ttl, cache_size=cache_size)


def test_secret_format_and_hash() -> None:
    secret = generate_secret()
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{48}", secret)
    assert generate_secret() != secret
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret(secret))
    assert hash_secret(secret) == hash_secret(secret)


@pytest.mark.parametrize(
    "header",
    ["authorization", "x-api-key", "x-goog-api-key"],
)
def test_each_client_header_is_accepted(
    store: CountingStore, clock: FakeClock, header: str
) -> None:
    key, secret = store.add()
    value = f"Bearer {secret}" if header == "authorization" else secret
    assert authenticate(make(store, clock), {header: value}) == key


def test_bearer_scheme_is_case_insensitive(store: CountingStore, clock: FakeClock) -> None:
    key, secret = store.add()
    assert authenticate(make(store, clock), {"authorization": f"bearer  {secret} "}) == key


def test_non_bearer_authorization_falls_back_to_api_key_header(
    store: CountingStore, clock: FakeClock
) -> None:
    key, secret = store.add()
    headers = {"authorization": "Basic Zm9vOmJhcg==", "x-api-key": secret}
    assert authenticate(make(store, clock), headers) == key


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer "}, {"x-api-key": "  "}])
def test_missing_key_is_401_saying_where_to_put_it(
    store: CountingStore, clock: FakeClock, headers: dict[str, str]
) -> None:
    with pytest.raises(AuthenticationError, match="Missing API key") as info:
        authenticate(make(store, clock), headers)
    assert info.value.status == 401


def test_wrong_key_is_401_without_echoing_it(store: CountingStore, clock: FakeClock) -> None:
    with pytest.raises(AuthenticationError) as info:
        authenticate(make(store, clock), {"x-api-key": "sk-wrong-secret"})
    assert info.value.status == 401
    assert "sk-wrong" not in info.value.message


def test_overlong_key_is_rejected_without_lookup(store: CountingStore, clock: FakeClock) -> None:
    with pytest.raises(AuthenticationError):
        authenticate(make(store, clock), {"x-api-key": "x" * 10_000})
    assert store.lookups == 0


def test_revoked_key_is_401(store: CountingStore, clock: FakeClock) -> None:
    key, secret = store.add()
    store.by_hash[hash_secret(secret)] = ApiKey(
        id=key.id, name=key.name, prefix=key.prefix, created_at=1, revoked_at=2
    )
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate(make(store, clock), {"x-api-key": secret})


def test_hits_and_misses_are_cached_until_ttl(store: CountingStore, clock: FakeClock) -> None:
    authenticator = make(store, clock, cache_ttl=5.0)
    _, secret = store.add()
    for _ in range(3):
        authenticate(authenticator, {"x-api-key": secret})
        with pytest.raises(AuthenticationError):
            authenticate(authenticator, {"x-api-key": "sk-unknown"})
    assert store.lookups == 2
    clock.now += 5.0
    authenticate(authenticator, {"x-api-key": secret})
    assert store.lookups == 3


def test_revocation_applies_after_cache_ttl(store: CountingStore, clock: FakeClock) -> None:
    authenticator = make(store, clock, cache_ttl=5.0)
    key, secret = store.add()
    authenticate(authenticator, {"x-api-key": secret})
    del store.by_hash[hash_secret(secret)]
    assert authenticate(authenticator, {"x-api-key": secret}) == key
    clock.now += 6
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": secret})


def test_an_outage_is_ridden_out_on_lookups_cached_in_the_last_ten_minutes(
    store: CountingStore, clock: FakeClock
) -> None:
    """A PostgreSQL restart or outage: keys in use keep working (no 503 each time their
    5 s are up), unknown ones stay unknown; older lookups meet the outage."""
    authenticator = make(store, clock, cache_ttl=5.0)
    key, secret = store.add()
    _, expired_secret = store.add(expires_at=int(clock.now) + 200)
    _, old_secret = store.add()
    authenticate(authenticator, {"x-api-key": old_secret})
    clock.now += 100
    authenticate(authenticator, {"x-api-key": secret})
    authenticate(authenticator, {"x-api-key": expired_secret})
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": "sk-unknown"})
    store.down = locked_sqlite_error()
    clock.now += 510  # old_secret's lookup expired 605 s ago, the others 505
    assert authenticate(authenticator, {"x-api-key": secret}) == key
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": "sk-unknown"})
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate(authenticator, {"x-api-key": expired_secret})  # expiry still applies
    with pytest.raises(sqlite3.OperationalError):
        authenticate(authenticator, {"x-api-key": old_secret})
    store.down = None
    clock.now += 3  # back, and a while since the last try: lookups are fresh again
    del store.by_hash[hash_secret(secret)]
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": secret})


def test_in_an_outage_stale_answers_come_without_a_try_for_two_seconds(
    store: CountingStore, clock: FakeClock
) -> None:
    """A database that drops packets makes each try wait out its connect timeout."""
    authenticator = make(store, clock, cache_ttl=5.0)
    key, secret = store.add()
    authenticate(authenticator, {"x-api-key": secret})
    clock.now += 6
    store.down = locked_sqlite_error()
    lookups = store.lookups
    assert authenticate(authenticator, {"x-api-key": secret}) == key
    assert authenticate(authenticator, {"x-api-key": secret}) == key
    assert store.lookups == lookups + 1  # one try, then the answer without one
    clock.now += 2.5
    assert authenticate(authenticator, {"x-api-key": secret}) == key
    assert store.lookups == lookups + 2


def test_a_full_cache_evicts_from_the_front_in_expiry_order(
    store: CountingStore, clock: FakeClock
) -> None:
    authenticator = make(store, clock, cache_size=3)
    for i in range(3):
        with pytest.raises(AuthenticationError):
            authenticate(authenticator, {"x-api-key": f"sk-{i}"})
        clock.now += 1
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": "sk-3"})
    assert len(authenticator._cache) == 3
    assert hash_secret("sk-0") not in authenticator._cache  # the oldest went


def test_an_error_that_is_no_outage_is_raised_not_ridden_out(
    store: CountingStore, clock: FakeClock
) -> None:
    authenticator = make(store, clock, cache_ttl=5.0)
    _, secret = store.add()
    authenticate(authenticator, {"x-api-key": secret})
    clock.now += 6
    store.down = RuntimeError("a bug")
    with pytest.raises(RuntimeError):
        authenticate(authenticator, {"x-api-key": secret})


def test_a_revocation_signal_in_an_outage_leaves_nothing_to_ride_on(
    store: CountingStore, clock: FakeClock
) -> None:
    authenticator = make(store, clock, cache_ttl=5.0)
    _, secret = store.add()
    authenticate(authenticator, {"x-api-key": secret})
    authenticator.forget()  # another replica revoked a key, and said so
    store.down = locked_sqlite_error()
    with pytest.raises(sqlite3.OperationalError):
        authenticate(authenticator, {"x-api-key": secret})


def test_cache_is_bounded(store: CountingStore, clock: FakeClock) -> None:
    authenticator = make(store, clock, cache_size=3)
    for i in range(10):
        with pytest.raises(AuthenticationError):
            authenticate(authenticator, {"x-api-key": f"sk-{i}"})
    assert len(authenticator._cache) <= 3
    with pytest.raises(AuthenticationError):
        authenticate(authenticator, {"x-api-key": "sk-9"})
    assert store.lookups == 10


def test_static_key_matches_without_store(store: CountingStore, clock: FakeClock) -> None:
    static = StaticKey(key="sk-static-config-key", name="ci", models=("gpt-5-mini",))
    key = authenticate(make(store, clock, static), {"authorization": "Bearer sk-static-config-key"})
    assert (key.id, key.name, key.models) == ("static:ci", "ci", ("gpt-5-mini",))
    assert key.prefix == ""
    assert store.lookups == 0


def test_a_static_key_expires(store: CountingStore, clock: FakeClock) -> None:
    when = "2023-11-14T22:13:20+00:00"  # 1_700_000_000
    static = StaticKey(key="sk-static-config-key", name="ci", expires_at=when)
    authenticator = make(store, clock, static, cache_ttl=0)
    clock.now = 1_700_000_000 - 1
    assert authenticate(authenticator, {"x-api-key": "sk-static-config-key"}).name == "ci"
    clock.now = 1_700_000_000
    with pytest.raises(AuthenticationError) as expired:
        authenticate(authenticator, {"x-api-key": "sk-static-config-key"})
    assert expired.value.code == "expired_api_key"
    assert "2023-11-14 22:13 UTC" in expired.value.message


def test_empty_static_key_never_matches(store: CountingStore, clock: FakeClock) -> None:
    with pytest.raises(AuthenticationError):
        authenticate(make(store, clock, StaticKey(key="", name="off")), {"x-api-key": " "})


def test_authorize_model(store: CountingStore, clock: FakeClock) -> None:
    authenticator = make(store, clock)
    limited, _ = store.add(models=("gpt-5-mini",))
    unlimited, _ = store.add()
    authenticator.authorize_model(limited, "gpt-5-mini")
    authenticator.authorize_model(unlimited, "anything")
    with pytest.raises(PermissionDeniedError, match="may not use model 'claude-opus-4-6'") as info:
        authenticator.authorize_model(limited, "claude-opus-4-6")
    assert info.value.status == 403
    assert info.value.param == "model"
