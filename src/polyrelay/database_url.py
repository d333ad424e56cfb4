"""What a `database:` URL says, for the config and the stores alike (the config must not
load the stores to check itself)."""

from __future__ import annotations

from typing import Literal

__all__ = ["PoolMode", "is_postgres_url"]

PoolMode = Literal["session", "transaction"]
"""How a connection pooler between the gateway and PostgreSQL (PgBouncer, a managed
pooler) hands out server connections: for a whole client session, or per transaction."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))
