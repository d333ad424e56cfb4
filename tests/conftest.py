"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_server import running_postgres
from tests.redis_server import running_redis

__all__ = ["database_url", "running_postgres", "running_redis"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend: a file for SQLite, a schema of the
    session's server for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'polyrelay.db'}"
    server = request.getfixturevalue("running_postgres")
    url: str = server.fresh_schema_url()
    return url
