"""Client API keys: generating and hashing secrets, and authenticating requests.

Secrets never leave this module except as the one-time return of `KeyStore.create`; only
their SHA-256 digests are stored, cached, compared or logged (and only the 10-character
display prefix besides).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping

from polyrelay.errors import AuthenticationError, PermissionDeniedError
from polyrelay.limits import check_active
from polyrelay.settings import StaticKey
from polyrelay.storage import (
    STATIC_KEY_ID_PREFIX,
    ApiKey,
    KeyLimits,
    KeyStore,
    StoreCall,
    call_at_once,
)
from polyrelay.storage.unreachable import database_unreachable

__all__ = [
    "KEY_CACHE_SECONDS",
    "Authenticator",
    "generate_secret",
    "hash_secret",
]

_SECRET_CHARS = 48
_MAX_SECRET_LENGTH = 512
_MISSING_KEY = (
    "Missing API key: send it as 'Authorization: Bearer sk-...', 'x-api-key: sk-...' "
    "or 'x-goog-api-key: sk-...'"
)


def generate_secret() -> str:
    """`sk-` + 48 URL-safe characters (288 random bits)."""
    # token_urlsafe(36) encodes 36 random bytes as exactly 48 base64url characters.
    return "sk-" + secrets.token_urlsafe(_SECRET_CHARS * 3 // 4)


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a secret.

    A fast hash is right here, unlike for passwords: a generated secret carries 288 random
    bits, so there is nothing to brute-force from a leaked digest, and a slow KDF would
    put hundreds of milliseconds on every uncached request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


KEY_CACHE_SECONDS = 5.0
"""How long a key lookup (hit or miss) is cached by default."""
_RETRY_SECONDS = 2.0
"""After a lookup found the database out of reach, how long stale answers are given
without trying it again."""
KEY_STALE_SECONDS = 600.0
"""How long past its expiry a cached lookup still answers while the database is out of
reach (see Authenticator)."""


class Authenticator:
    """Resolves request headers to an `ApiKey`, or raises 401/403 `GatewayError`s.

    Lookups (hits and misses) are cached by digest for `cache_ttl` seconds, so the hot
    path does no database query per request; a revoked key therefore stops working within
    `cache_ttl` seconds. The cache holds at most `cache_size` digests, dropping the oldest.

    While the database is out of reach, a lookup that expired less than `stale_seconds`
    ago still answers, so a key in use keeps working through a PostgreSQL restart or
    outage, as config keys and the requests that need no other store call do (instead
    of a 503 for every request once its 5 s are up). Nothing is lost by it: no key can be
    revoked while the database cannot be written, and a revocation committed elsewhere
    still clears the cache when its signal arrives (`forget`); expiry and revocation are
    checked on the cached key as always.
    """

    def __init__(
        self,
        store: KeyStore,
        static_keys: tuple[StaticKey, ...],
        clock: Callable[[], float],
        *,
        call: StoreCall = call_at_once,
        cache_ttl: float = KEY_CACHE_SECONDS,
        cache_size: int = 10_000,
        stale_seconds: float = KEY_STALE_SECONDS,
    ) -> None:
        """`call` makes the store's lookups (Database.call: without blocking the event
        loop where the database is a server)."""
        self._store = store
        self._call = call
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size
        self._stale_seconds = stale_seconds
        self._unreachable_until = 0.0
        """Until then a lookup with a stale answer is not tried again (see `_lookup`)."""
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._generation = 0
        """Counts `forget` calls, so a lookup that spanned one is not cached."""
        self._static = [(hash_secret(k.key), _static_api_key(k)) for k in static_keys if k.key]
        self._static_by_id = {key.id: key for _, key in self._static}

    async def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        """The key the request carries; header names are expected in lower case."""
        secret = _secret_from_headers(headers)
        if not secret:
            raise AuthenticationError(_MISSING_KEY)
        if len(secret) > _MAX_SECRET_LENGTH:
            raise AuthenticationError("Invalid API key.")
        digest = hash_secret(secret)
        key = self._static_match(digest) or await self._lookup(digest)
        if key is None:
            raise AuthenticationError("Invalid API key.")
        check_active(key, self._clock())
        return key

    def reauthenticate(self, key: ApiKey) -> ApiKey:
        """The key that submitted queued work (a task, a batch request, a background
        response), as it stands when that work comes to run; a 401 when it may no longer
        be used, so a revoked or expired key's queue stops spending upstream, as its HTTP
        requests stop. A database key is expected as the task store's claim returns it,
        with its row's current revocation and expiry; a static key must still be in the
        config, whose entry (models, limits, expiry) then applies."""
        if key.id.startswith(STATIC_KEY_ID_PREFIX):
            configured = self._static_by_id.get(key.id)
            if configured is None:
                raise AuthenticationError(
                    f"API key {key.name!r} is no longer among the gateway's configured keys."
                )
            key = configured
        check_active(key, self._clock())
        return key

    def authorize_model(self, key: ApiKey, model: str) -> None:
        """Raise 403 when `key` is limited to a list of models that excludes `model`."""
        if key.models is not None and model not in key.models:
            raise PermissionDeniedError(
                f"This API key may not use model {model!r}; allowed: {', '.join(key.models)}.",
                param="model",
            )

    def _static_match(self, digest: str) -> ApiKey | None:
        # Compare against every static key, so timing does not tell how many matched first.
        found = None
        for static_digest, key in self._static:
            if hmac.compare_digest(static_digest, digest):
                found = key
        return found

    def forget(self, _: str = "") -> None:
        """Drop every cached lookup (a key was revoked, in this process or another)."""
        self._cache.clear()
        self._generation += 1

    async def _lookup(self, digest: str) -> ApiKey | None:
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        stale = cached if cached is not None and cached[0] + self._stale_seconds > now else None
        if stale is not None and now < self._unreachable_until:
            # Out of reach a moment ago: no new try (a database that drops packets makes
            # each one wait out its connect timeout), the stale answer at once.
            return stale[1]
        generation = self._generation
        try:
            key = await self._call(self._store.get_by_hash, digest)
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            self._unreachable_until = self._clock() + _RETRY_SECONDS
            if stale is None:
                raise
            return stale[1]  # the outage's stale answer, kept as it was
        if generation != self._generation:
            return key  # keys changed during the lookup: it may be stale, do not cache it
        now = self._clock()
        self._cache.pop(digest, None)
        if len(self._cache) >= self._cache_size:
            self._evict(now)
        self._cache[digest] = (now + self._cache_ttl, key)
        return key

    def _evict(self, now: float) -> None:
        """From the front: a lookup is put at the end when it is made or remade, with the
        same TTL, so the order is expiry order. Stops at the first entry still worth its
        place (a scan of every entry on each new digest cost 230 µs with 10,000 held)."""
        cache = self._cache
        horizon = now - self._stale_seconds
        while cache:
            digest = next(iter(cache))
            if cache[digest][0] > horizon and len(cache) < self._cache_size:
                return
            del cache[digest]


def _secret_from_headers(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return (headers.get("x-api-key") or headers.get("x-goog-api-key") or "").strip()


def _static_api_key(key: StaticKey) -> ApiKey:
    return ApiKey(
        id=STATIC_KEY_ID_PREFIX + key.name,
        name=key.name,
        prefix="",  # a static key may be short enough that any prefix would reveal it
        models=key.models,
        created_at=0,
        limits=KeyLimits(
            rpm=key.rpm, tpm=key.tpm, token_budget=key.token_budget, expires_at=key.expiry()
        ),
    )
