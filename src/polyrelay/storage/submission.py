"""A background response's submission (`POST /v1/responses` with `background: true`),
committed in one transaction: its `queued` Response, with `stream: true` its first two
events, and the task that runs it.

Committed one after the other, a database lost between them (an outage, a PostgreSQL
connection broken) refused the client but kept a `queued` response that no task would
ever run: GET showed it queued until the retention purge. In one transaction they are
all there or none is. The response is committed at once, not parked for the responses'
writer thread (polyrelay.storage.responses): the client may poll another replica, and
another process's worker may claim the task, the moment the client has the id.
"""

from __future__ import annotations

from polyrelay.storage.dialect import ConnectionLock, SqlConnection
from polyrelay.storage.response_events import RecordedEvent, insert_events
from polyrelay.storage.responses import StoredResponse, insert_responses, response_rows
from polyrelay.storage.tasks import insert_tasks
from polyrelay.storage.transaction import write_transaction
from polyrelay.tasks.model import NewTask

__all__ = ["commit_submission"]


def commit_submission(
    conn: SqlConnection,
    lock: ConnectionLock,
    response: StoredResponse,
    events: list[RecordedEvent],
    task: NewTask,
) -> None:
    """Database.submit_background on `conn`, holding `lock`. The response's
    key guard holds as in the writer's upserts."""
    rows = response_rows([response])
    with lock, write_transaction(conn):
        insert_responses(conn, rows)
        if events:
            insert_events(conn, response.id, events)
        insert_tasks(conn, [task])
