"""A statement that meets a connection a PostgreSQL restart broke, sent again only when
that cannot run anything twice.

A restart (`pg_ctl restart`, a failover, a pooler's restart) leaves every connection a
process holds dead, though the server is back at once; without more, the first use of
each fails, and with it a client's request (a 503). Two cases are safe to send again, on
a fresh connection; nothing else is, since a write whose COMMIT may have reached the
server before the connection broke may have been committed:

- Dead before it was sent (`found_dead`). Between statements, outside a transaction, a
  server says nothing unasked to these connections (they LISTEN to nothing), except when
  it ends the session: its FATAL message (57P01 on a shutdown) and the close then wait
  unread in the socket. A connection whose socket has something to read then is replaced
  before the statement goes out, so the server never sees it there: any statement, a
  write included. Costs one poll(2) per statement, under 1 µs (a round trip on loopback
  is 50); a false alarm (a setting the server reports after a reload) costs one
  reconnection.
- Broke under a statement that changes nothing and starts a unit of work (`may_send_again`):
  a SELECT or the BEGIN of a transaction, sent while no transaction was open, on a
  connection now broken (not a timeout, cancel or deadlock on a live one). A statement
  inside a transaction is never sent again: the transaction went with the connection, so
  its caller fails, and a write transaction (storage/transaction.py) is rolled back whole,
  never half-replayed.
"""

from __future__ import annotations

import re
import select
from typing import Any

from psycopg.pq import TransactionStatus

__all__ = ["found_dead", "may_send_again", "starts_fresh"]

_READ_OR_BEGIN = re.compile(r"\s*(SELECT|BEGIN)\b", re.IGNORECASE)
# A SELECT that calls one of these changes something (a sequence, a lock, a setting, a
# notification), so it is not a read; the stores' own SELECTs call none of them.
_EFFECTS = re.compile(r"\b(nextval|setval|pg_advisory|set_config|pg_notify)", re.IGNORECASE)


def starts_fresh(conn: Any) -> bool:
    """Whether a statement sent on `conn` now starts a unit of work of its own: no
    transaction is open (autocommit, or the statement is the BEGIN)."""
    # libpq's own status: `conn.info` builds an object per call, 0.7 µs against 0.1.
    return bool(conn.pgconn.transaction_status == TransactionStatus.IDLE)


def found_dead(conn: Any) -> bool:
    """Whether `conn` (a psycopg Connection or AsyncConnection) cannot take a statement:
    closed, broken, or idle with something from the server waiting unread (see above).
    Never true of a live connection inside a transaction: its statements must fail with
    it, not move to a fresh connection without it."""
    if conn.closed:
        return True
    if not starts_fresh(conn):
        return False
    # poll, not select: a busy process's descriptor numbers may pass select's 1024.
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))  # readable, hung up or in error alike


def may_send_again(statement: str, *, started_fresh: bool, broken: bool) -> bool:
    """Whether `statement`, which failed, may be sent once more on a fresh connection:
    only when it `started_fresh` (see `starts_fresh`, taken before it was sent), the
    connection is `broken` now, and it is a SELECT without effects or a BEGIN."""
    return (
        started_fresh
        and broken
        and _READ_OR_BEGIN.match(statement) is not None
        and _EFFECTS.search(statement) is None
    )
