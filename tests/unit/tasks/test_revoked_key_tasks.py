"""Queued work of a key that may no longer be used does not run: a claim returns the
task's key as its row is now, and `Authenticator.reauthenticate` refuses it when it was
revoked, has expired or (a static key) has left the config."""

from __future__ import annotations

import msgspec
import pytest
from tests.unit.conftest import FakeClock

from polyrelay.auth import Authenticator
from polyrelay.errors import AuthenticationError
from polyrelay.settings import StaticKey
from polyrelay.storage import ApiKey, Database, KeyLimits
from polyrelay.tasks.model import NewTask, TaskKind

STATIC = ApiKey(id="static:ci", name="ci", prefix="", created_at=0)


def new_task(task_id: str, key: ApiKey) -> NewTask:
    return NewTask(
        id=task_id, kind=TaskKind.BATCH, key=key, endpoint="/v1/messages",
        request_id="req_" + task_id, model="claude-sonnet-4-5", body=b"{}", headers={},
        callback_url=None, created_at=1_700_000_000,
    )  # fmt: skip


def claimed_key(database: Database, key: ApiKey) -> ApiKey:
    database.tasks.enqueue(new_task("task_1", key))
    task = database.tasks.claim("w", 30)
    assert task is not None
    return task.key


def test_a_claim_returns_the_key_as_revoked_since_the_submission(
    database: Database, clock: FakeClock
) -> None:
    key, _ = database.keys.create("soon-revoked", None)
    clock.now += 10
    assert database.keys.revoke(key.id)
    claimed = claimed_key(database, key)
    assert claimed.revoked_at == int(clock.now)
    assert msgspec.structs.replace(claimed, revoked_at=None) == key


def test_a_claim_returns_an_active_key_unchanged(database: Database) -> None:
    key, _ = database.keys.create("active", None, KeyLimits(expires_at=1_800_000_000, rpm=5))
    assert claimed_key(database, key) == key


def test_a_key_whose_row_is_gone_claims_as_revoked(database: Database) -> None:
    gone = ApiKey(id="key_deleted", name="gone", prefix="sk-gone", created_at=0)
    assert claimed_key(database, gone).revoked_at is not None


def test_a_static_key_is_claimed_as_saved(database: Database) -> None:
    assert claimed_key(database, STATIC) == STATIC


def authenticator(clock: FakeClock, *static: StaticKey) -> Authenticator:
    class NoStore:
        def get_by_hash(self, digest: str) -> ApiKey | None:
            raise AssertionError("a run looks nothing up by secret")

    return Authenticator(NoStore(), static, clock)  # type: ignore[arg-type]


def test_reauthenticate_passes_an_active_database_key(clock: FakeClock) -> None:
    key = ApiKey(id="key_1", name="k", prefix="sk-abc", created_at=0)
    assert authenticator(clock).reauthenticate(key) is key


def test_reauthenticate_refuses_a_revoked_key(clock: FakeClock) -> None:
    key = ApiKey(id="key_1", name="k", prefix="sk-abc", created_at=0, revoked_at=5)
    with pytest.raises(AuthenticationError, match=r"sk-abc\.\.\. has been revoked") as info:
        authenticator(clock).reauthenticate(key)
    assert info.value.status == 401


def test_reauthenticate_refuses_an_expired_key(clock: FakeClock) -> None:
    limits = KeyLimits(expires_at=int(clock.now) - 1)
    key = ApiKey(id="key_1", name="k", prefix="sk-abc", created_at=0, limits=limits)
    with pytest.raises(AuthenticationError, match="expired at") as info:
        authenticator(clock).reauthenticate(key)
    assert info.value.code == "expired_api_key"


def test_reauthenticate_takes_a_static_key_from_the_config_now(clock: FakeClock) -> None:
    configured = StaticKey(key="sk-ci-secret", name="ci", models=("gpt-4o-mini",), rpm=3)
    current = authenticator(clock, configured).reauthenticate(STATIC)
    assert (current.id, current.models, current.limits.rpm) == ("static:ci", ("gpt-4o-mini",), 3)


def test_reauthenticate_refuses_a_static_key_gone_from_the_config(clock: FakeClock) -> None:
    other = StaticKey(key="sk-ops-secret", name="ops")
    with pytest.raises(AuthenticationError, match="'ci' is no longer among"):
        authenticator(clock, other).reauthenticate(STATIC)


def test_reauthenticate_refuses_a_static_key_expired_in_the_config(clock: FakeClock) -> None:
    expired = StaticKey(key="sk-ci-secret", name="ci", expires_at="2020-01-01")
    with pytest.raises(AuthenticationError, match="expired at 2020-01-01"):
        authenticator(clock, expired).reauthenticate(STATIC)
