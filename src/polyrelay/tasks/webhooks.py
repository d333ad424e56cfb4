"""Webhook deliveries, signed per Standard Webhooks (https://www.standardwebhooks.com).

When a task ends, its store queues a delivery in the same transaction. `WebhookSender`
claims due deliveries (leased, so one process sends each), POSTs the task object through
the hardened fetcher (address rules, pinned resolution, no redirects) and marks it
delivered on a 2xx; otherwise it retries with exponential backoff until
`tasks.webhook_max_attempts`. Deliveries live in the database, so they survive restarts.
The sender outlives a database outage (polyrelay.background_loop): a delivery whose store
calls fail is retried within its lease, else sent again once the lease expires, under the
same `webhook-id` (receivers deduplicate by it, as Standard Webhooks asks).

Headers: `webhook-id` (the delivery id, the same on every retry), `webhook-timestamp`
(unix seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from polyrelay import codec
from polyrelay.background_loop import Outage, keep_running, stored_until
from polyrelay.backoff import DELAYS, Delays
from polyrelay.errors import GatewayError
from polyrelay.fetch.client import UrlFetcher
from polyrelay.storage import StoreCall, TaskStore, call_at_once
from polyrelay.tasks.lease import Lease
from polyrelay.tasks.model import Delivery, Task, task_object
from polyrelay.tasks.settings import TasksSettings

__all__ = ["SECRET_NAME", "WebhookSender", "secret_key", "sign", "stored_secret"]

log = logging.getLogger("polyrelay.tasks")

SECRET_NAME = "webhook_secret"  # noqa: S105 -- the name of the stored secret
_LEASE_SECONDS = 60.0
_MAX_BACKOFF = 3600.0
_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 after `whsec_`, or the text itself."""
    if secret.startswith(_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(_PREFIX), validate=True)
        except binascii.Error:
            raise ValueError("tasks.webhook_secret: invalid base64 after whsec_") from None
    return secret.encode()


def stored_secret(store: TaskStore, settings: TasksSettings) -> str:
    """The configured secret, else the one generated once and kept in the database."""
    if settings.webhook_secret:
        return settings.webhook_secret
    return store.secret(SECRET_NAME, _new_secret)


def _new_secret() -> str:
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSender:
    """Sends due deliveries until stopped; `wake` after queueing one to skip the poll."""

    def __init__(
        self,
        store: TaskStore,
        fetcher: UrlFetcher,
        settings: TasksSettings,
        worker_id: str,
        clock: Callable[[], float],
        *,
        call: StoreCall = call_at_once,
        delays: Delays = DELAYS,
    ) -> None:
        """`call` makes the store calls (Database.call: never blocking the event loop);
        `delays` are the pauses between the retries of failing ones."""
        self._store = store
        self._outage = Outage(log, f"webhook sender {worker_id}: task store calls", delays)
        self._call = self._outage.watched(call)
        self._fetcher = fetcher
        self._settings = settings
        self._worker = worker_id
        self._clock = clock
        self._key = secret_key(stored_secret(store, settings))
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send deliveries until cancelled, through any outage of the database."""
        await keep_running(self._next_delivery, self._outage)

    async def _next_delivery(self) -> None:
        asked = time.monotonic()
        delivery = await self._call(self._store.claim_delivery, self._worker, _LEASE_SECONDS)
        if delivery is not None:
            await self.send(delivery, Lease(asked, _LEASE_SECONDS).stop_at)
            return
        self._wake.clear()
        try:
            async with asyncio.timeout(self._settings.poll_seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def send(self, delivery: Delivery, leased_until: float | None = None) -> None:
        """POST `delivery` and store how it went; `leased_until` (time.monotonic()) bounds
        the retries of a failing store call (none when it is None)."""
        store, call, outage, worker = self._store, self._call, self._outage, self._worker
        # Storing the result of a POST made: retried while the lease keeps the delivery
        # ours, so that a database blip does not send it twice.
        deadline = time.monotonic() if leased_until is None else leased_until
        # A deleted task's delivery carries the task object it sends.
        task = None if delivery.body is not None else await call(store.get, delivery.task_id)
        if task is None and delivery.body is None:  # purged; nothing left to say
            gone = "its task no longer exists"
            await stored_until(
                deadline, outage, call, store.delivery_done, delivery.id, worker, gone
            )
            return
        problem = await self._post(delivery, task)
        task_id = delivery.task_id
        if problem is None or delivery.attempts >= self._settings.webhook_max_attempts:
            if problem is not None:
                log.warning("webhook %s for %s given up: %s", delivery.id, task_id, problem)
            await stored_until(
                deadline, outage, call, store.delivery_done, delivery.id, worker, problem
            )
            return
        delay = min(self._settings.retry_base_seconds * 2 ** (delivery.attempts - 1), _MAX_BACKOFF)
        log.info(
            "webhook %s for %s failed (%s); retry in %.0fs", delivery.id, task_id, problem, delay
        )
        at = self._clock() + delay
        await stored_until(
            deadline, outage, call, store.delivery_retry, delivery.id, worker, at, problem
        )

    async def _post(self, delivery: Delivery, task: Task | None) -> str | None:
        """POST the task object (`task`'s, or the delivery's own when None): None when
        delivered, else what went wrong. A bug in building or posting it is a failed
        attempt too, so the attempt limit ends a delivery that would fail forever."""
        try:
            kept = delivery.body or ""  # sent without its task only when it has one
            body = codec.encode(task_object(task)) if task is not None else kept.encode()
            timestamp = int(self._clock())
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self._key, delivery.id, timestamp, body),
            }
            result = await self._fetcher.post(delivery.url, body, headers)
        except GatewayError as error:
            return error.message
        except Exception as exc:
            log.exception("webhook %s for %s could not be sent", delivery.id, delivery.task_id)
            return f"internal error: {type(exc).__name__}"
        return None if 200 <= result.status < 300 else f"HTTP {result.status}"
