"""Signals across replicas through PostgreSQL's LISTEN/NOTIFY, for deployments on
PostgreSQL without Redis (the outbox, the echoes and the reconnects:
polyrelay.signals_remote).

The channel is named after the database schema the gateway's URL selects (its
search_path), since NOTIFY reaches every session of the database, whatever its schema:
deployments that share a database in schemas of their own do not hear each other.
Notifications are delivered when the sending transaction commits; each signal is its own
statement in autocommit mode, so at once. Behind PgBouncer, LISTEN needs session pooling.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql

from polyrelay.errors import first_line
from polyrelay.signals_remote import TIMEOUT_SECONDS, RemoteSignals

__all__ = ["PostgresSignals", "publish_once"]

_SCHEMA = "SELECT current_schema()"
_NOTIFY = "SELECT pg_notify(%s, %s)"


def channel_of(schema: str | None) -> str:
    return f"polyrelay_signals:{schema or ''}"


class PostgresSignals(RemoteSignals):
    name = "postgresql"
    errors = (psycopg.Error, OSError)

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._sender: psycopg.AsyncConnection[Any] | None = None
        self._channel = ""

    async def _publish(self, message: str) -> None:
        sender = self._sender
        if sender is None or sender.broken or sender.closed:
            sender = self._sender = await self._connect()
            self._channel = await _channel(sender)
        await sender.execute(_NOTIFY, (self._channel, message))

    async def _messages(self) -> AsyncIterator[str | None]:
        conn = await self._connect()
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(await _channel(conn))))
            yield None
            async for notification in conn.notifies():
                yield notification.payload
        finally:
            await conn.close()

    async def _close(self) -> None:
        if self._sender is not None:
            await self._sender.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        # TCP keep-alive: a listener idle for hours notices a server that vanished
        # without closing the socket.
        return await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=int(TIMEOUT_SECONDS),
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
        )


async def _channel(conn: psycopg.AsyncConnection[Any]) -> str:
    row = await (await conn.execute(_SCHEMA)).fetchone()
    return channel_of(row[0] if row else None)


def publish_once(url: str, topic: str, payload: str = "") -> str | None:
    """Send one signal from a short-lived process (the CLI); None when sent, else why not
    in one line (the replicas then see the change within their polling or cache time)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(_SCHEMA).fetchone()
            message = f"cli-{secrets.token_hex(4)} {topic} {payload}"
            conn.execute(_NOTIFY, (channel_of(row[0] if row else None), message))
    except (psycopg.Error, OSError) as exc:
        return f"PostgreSQL could not be reached ({first_line(exc)})"
    return None
