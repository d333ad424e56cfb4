"""Per-key limits, checked once a request is authenticated (polyrelay.storage.key_limits).

`rpm` and `tpm` count per clock minute; `token_budget` over the key's life. A refused
request is a 429 in the client's protocol, with `retry-after` when waiting helps, and is
not counted. Work queued for later (async tasks, background responses) is counted when it
is submitted and checked against the token limits again when it runs (`check_tokens`), so
a queue cannot spend past them; a batch's requests are admitted one by one as they run.
Every process shares the counts through the database, so the limits hold across
`--workers` and replicas. A request's tokens count once it ends: at once in its own
process, in the others when the usage writer commits (within about a second).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from polyrelay.errors import AuthenticationError, RateLimitError
from polyrelay.storage import (
    ApiKey,
    KeyLimits,
    KeyStore,
    KeyWindow,
    StoreCall,
    UsageStore,
    call_at_once,
)

__all__ = ["KeyLimiter", "check_active", "check_expiry"]

_READS = 3
"""Tries at a count no commit of this process's usage writer overlapped (it commits about
once a second, so a second try nearly never meets another)."""


def check_active(key: ApiKey, now: float) -> None:
    """Refuse (401) a key that has been revoked or has expired."""
    if key.revoked_at is not None:
        raise AuthenticationError(f"API key {key.prefix}... has been revoked.")
    check_expiry(key, now)


def check_expiry(key: ApiKey, now: float) -> None:
    expires_at = key.limits.expires_at
    if expires_at is not None and now >= expires_at:
        when = datetime.datetime.fromtimestamp(expires_at, datetime.UTC)
        raise AuthenticationError(
            f"API key {key.prefix}... expired at {when:%Y-%m-%d %H:%M} UTC.",
            code="expired_api_key",
        )


class KeyLimiter:
    def __init__(
        self,
        keys: KeyStore,
        usage: UsageStore,
        clock: Callable[[], float],
        *,
        call: StoreCall = call_at_once,
    ) -> None:
        """`call` makes the counting store calls (Database.call)."""
        self._keys = keys
        self._call = call
        self._usage = usage
        self._clock = clock

    async def admit(self, key: ApiKey) -> None:
        """Count the request, or refuse it with a 429 when one of the key's limits is
        reached. Costs nothing for a key without counted limits."""
        limits = key.limits
        if not limits.counted:
            return
        now = self._clock()
        minute = int(now) // 60
        seen = self._usage.commits
        window = await self._call(self._keys.admit, key.id, minute)
        if limits.counts_tokens:
            window = await self._with_uncommitted(window, key.id, minute, seen)
        refusal = _refusal(limits, window, retry_in=60 - int(now) % 60)
        if refusal is not None:
            await self._call(self._keys.refund, key.id, minute)
            raise refusal

    async def check_tokens(self, key: ApiKey) -> None:
        """Refuse (429), when it is about to run, a request `admit` counted earlier (an
        async task, a background response) whose key has reached its `tpm` or
        `token_budget` since: the tasks queued before theirs may have spent it. Counts
        nothing. Costs nothing for a key without token limits."""
        limits = key.limits
        if not limits.counts_tokens:
            return
        now = self._clock()
        minute = int(now) // 60
        seen = self._usage.commits
        window = await self._call(self._keys.window, key.id, minute)
        window = await self._with_uncommitted(window, key.id, minute, seen)
        no_rpm = KeyLimits(tpm=limits.tpm, token_budget=limits.token_budget)
        refusal = _refusal(no_rpm, window, retry_in=60 - int(now) % 60)
        if refusal is not None:
            raise refusal

    async def _with_uncommitted(
        self, window: KeyWindow, key_id: str, minute: int, seen: int
    ) -> KeyWindow:
        """`window`, read from the database after the usage writer's `seen` commits, with
        the tokens this process recorded but has not committed. A batch committed during
        that read may be missing from it and is no longer uncommitted: the tokens are
        read again then (the request count stays the one `admit` got)."""
        in_minute, in_all = self._usage.uncommitted_tokens(key_id, minute)
        for _ in range(_READS):
            if self._usage.commits == seen:
                break
            seen = self._usage.commits
            again = await self._call(self._keys.window, key_id, minute)
            window = KeyWindow(
                requests=window.requests,
                minute_tokens=again.minute_tokens,
                total_tokens=again.total_tokens,
            )
            in_minute, in_all = self._usage.uncommitted_tokens(key_id, minute)
        return KeyWindow(
            requests=window.requests,
            minute_tokens=window.minute_tokens + in_minute,
            total_tokens=window.total_tokens + in_all,
        )

    async def admit_tokenless(self, key: ApiKey) -> None:
        """Count a request that uses no tokens (count_tokens) against the key's `rpm`, or
        refuse it with a 429 past it. Its `tpm` and `token_budget` do not refuse it: they
        limit tokens, and it is never billed any."""
        rpm = key.limits.rpm
        if rpm is None:
            return
        now = self._clock()
        minute = int(now) // 60
        window = await self._call(self._keys.admit, key.id, minute)
        if window.requests > rpm:
            await self._call(self._keys.refund, key.id, minute)
            raise _per_minute(f"{rpm} requests", 60 - int(now) % 60)


def _refusal(limits: KeyLimits, window: KeyWindow, retry_in: int) -> RateLimitError | None:
    budget = limits.token_budget
    if budget is not None and window.total_tokens >= budget:
        return RateLimitError(
            f"This API key has used its token budget ({window.total_tokens} of {budget} tokens).",
            code="insufficient_quota",
        )
    if limits.rpm is not None and window.requests > limits.rpm:
        return _per_minute(f"{limits.rpm} requests", retry_in)
    if limits.tpm is not None and window.minute_tokens >= limits.tpm:
        return _per_minute(f"{limits.tpm} tokens", retry_in)
    return None


def _per_minute(what: str, retry_in: int) -> RateLimitError:
    return RateLimitError(
        f"This API key is limited to {what} per minute; retry in {retry_in} s.",
        code="rate_limit_exceeded",
        retry_after=str(retry_in),
    )
