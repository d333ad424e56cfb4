"""The async task mode's entry points: submission (the pipeline's TaskSubmitter hook) and
the reads, waits and cancels behind /v1/tasks.

Submission validates first, exactly as the synchronous call would (the frontend decodes
the body, the model is resolved and authorized, the callback URL passes the fetcher's
address rules), then commits the task, then answers 202. The stored body is the client's
without `async`, `callback_url`/`webhook_url` (and `background` on /v1/responses), so
the frontends never see those fields. `stream: true` wins over `async: true`: such a
request runs synchronously, streamed, with the async fields removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from starlette.responses import Response

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError, InvalidRequestError, NotFoundError
from polyrelay.frontends import Frontend, ReadsHeaders
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.pipeline.handler import response_headers
from polyrelay.pipeline.replies import SSE_HEADERS, sse_response
from polyrelay.pipeline.sse_response import SSEResponse
from polyrelay.pipeline.stored_logprobs import frames_without_logprobs
from polyrelay.pipeline.stored_soon import looking_again
from polyrelay.signals import TASK_CANCELLED, TASK_ENDED, TASK_QUEUED, Wakeups
from polyrelay.storage import ApiKey, RecordedEvent, StoredResponse
from polyrelay.tasks import background
from polyrelay.tasks.asking import CALLBACK_FIELDS, asks_async
from polyrelay.tasks.background_stream import (
    KEEPALIVE,
    EventFeed,
    Recorder,
    follow,
    is_streamed,
    record_failure,
    run_streamed,
    submitted_events,
)
from polyrelay.tasks.model import FINAL_STATUSES, NewTask, Task, TaskError, TaskKind
from polyrelay.tasks.runner import Outcome, refused_outcome, run_task
from polyrelay.tasks.webhooks import WebhookSender
from polyrelay.tasks.worker import TaskWorker

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["CALLBACK_FIELDS", "MAX_WAIT_SECONDS", "TaskService"]

log = logging.getLogger("polyrelay.tasks")

MAX_WAIT_SECONDS = 60.0
_KEPT_HEADERS = ("anthropic-version", "anthropic-beta")
_POLL_SECONDS = 0.2
_WITHDRAWN = TaskError(
    type="invalid_request_error", message="the response was deleted before it ran", status=404
)


class _Submission(NamedTuple):
    frontend: Frontend
    body: bytes
    """Without the async, callback and background fields."""
    key: ApiKey
    ctx: RequestContext
    headers: dict[str, str]
    callback: str | None


class TaskService:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.store = gateway.database.tasks
        self._call = call = gateway.database.call
        settings = gateway.settings.tasks
        self.worker = TaskWorker(
            self.store,
            settings,
            self._execute,
            time.time,
            self._on_end,
            call=call,
            batches=gateway.database.batches,
        )
        self.webhooks = WebhookSender(
            self.store, gateway.fetcher, settings, self.worker.id, time.time, call=call
        )
        self.worker.ended.append(lambda _: self.webhooks.wake())
        self.events = gateway.database.response_events
        self._signals = signals = gateway.signals
        self.feed = EventFeed(signals)
        self.endings = Wakeups(signals, TASK_ENDED)
        """Waiters of tasks' ends, woken when a task ends in any process."""
        self.worker.ended.append(self.endings.notify)
        signals.on(TASK_QUEUED, lambda _: self.worker.wake())
        signals.on(TASK_CANCELLED, self.worker.cancel_local)

    async def start(self) -> None:
        await self.worker.start(self.webhooks.run)

    async def stop(self) -> None:
        await self.worker.stop()

    def wants_async(self, frontend: Frontend, document: JSONObject | None) -> bool:
        return asks_async(frontend, document)

    async def submit(
        self,
        frontend: Frontend,
        body: bytes,
        key: ApiKey,
        ctx: RequestContext,
        headers: Mapping[str, str],
    ) -> Response:
        document: dict[str, Any] = codec.decode(body)
        is_async = document.pop("async", None)
        callback = _callback_url(document)
        responses = isinstance(frontend, OpenAIResponsesFrontend)
        if responses:
            is_async = document.pop("background", None)
        stripped = codec.encode(document)
        streamed = document.get("stream") is True
        if streamed and not responses:
            if callback is not None:
                ctx.warn("callback_url applies to async requests only; ignored with stream")
            return await self._gateway.dispatch(frontend, stripped, key, ctx, headers)
        if is_async is not True:  # else the field would reach the upstream, which refuses it
            flag = "background" if responses else "async"
            raise InvalidRequestError(f"callback_url needs {flag}: true", param="callback_url")
        if callback is not None:
            await self._check_callback(callback)
        kept = {name: headers[name] for name in _KEPT_HEADERS if name in headers}
        job = _Submission(frontend, stripped, key, ctx, kept, callback)
        if not responses:
            return await self._submit_task(job)
        return await (self._submit_stream(job) if streamed else self._submit_response(job))

    async def _check_callback(self, url: str) -> None:
        """The fetcher's address rules, in an error that names the field."""
        try:
            await self._gateway.fetcher.check_address(url)
        except GatewayError as error:
            error.message = f"callback_url: {error.message}"
            error.param = error.param or "callback_url"
            raise

    async def _submit_task(self, job: _Submission) -> Response:
        frontend, ctx = job.frontend, job.ctx
        if isinstance(frontend, ReadsHeaders):
            frontend.note_headers(job.headers, ctx)
        chat = frontend.decode(job.body, ctx)
        self._admit(chat.model, job.key, ctx)
        task = self._new_task(new_id("task_"), TaskKind.TASK, job)
        await self._call(self.store.enqueue, task)  # durable before the client hears of it
        self.announce_queued()
        document = {
            "id": task.id,
            "object": "task",
            "status": "pending",
            "created_at": task.created_at,
        }
        return Response(codec.encode(document), 202, response_headers(ctx), "application/json")

    async def _submit_response(self, job: _Submission) -> Response:
        record = await self._submit_background(job, streamed=False)
        body = codec.encode(record.response)
        return Response(body, 200, response_headers(job.ctx), "application/json")

    async def _submit_stream(self, job: _Submission) -> Response:
        """`background` with `stream`: the queued response's first events are recorded,
        then the client follows the run's events as any later client would."""
        record = await self._submit_background(job, streamed=True)
        store = self._gateway.database.responses
        frames = follow(self.events, store, self.feed, record.id, job.key.id, -1, call=self._call)
        keepalive = self._gateway.settings.stream_keepalive_seconds
        return sse_response(frames, lambda: [KEEPALIVE], job.ctx, keepalive)

    async def _submit_background(self, job: _Submission, *, streamed: bool) -> StoredResponse:
        """Commit the `queued` Response of a background request, its first events when
        `streamed`, and its task, all in one transaction: a refused submission (the
        database out of reach) leaves none of them."""
        frontend = job.frontend
        assert isinstance(frontend, OpenAIResponsesFrontend)
        # A store call: the decode may read the history of a previous response, which
        # another process may have answered moments ago and not committed yet.
        record = await looking_again(
            lambda: self._call(
                background.queued_response,
                frontend,
                job.body,
                job.key,
                job.ctx,
                lambda model: self._admit(model, job.key, job.ctx),
            )
        )
        events: list[RecordedEvent] = submitted_events(record.response) if streamed else []
        task = self._new_task(record.id, TaskKind.RESPONSE, job)
        await self._call(self._gateway.database.submit_background, record, events, task)
        self.announce_queued()
        return record

    async def stream_response(
        self, response_id: str, key: ApiKey, after: int, *, logprobs: bool = True
    ) -> Response:
        """`GET /v1/responses/{id}?stream=true`: the recorded events of a background
        streamed response after `after`, then its new ones until it ends; their token
        logprobs emptied unless `logprobs` (the GET included them: stored_logprobs)."""
        store, call = self._gateway.database.responses, self._call
        if await call(store.get, response_id, key.id) is None:
            raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
        if await call(self.events.next_seq, response_id) == 0:
            raise InvalidRequestError(
                f"Response {response_id} has no events to stream: only responses created"
                " with background: true and stream: true can be streamed again (until"
                " tasks.retention_seconds after they end). GET it without stream.",
                param="stream",
            )
        frames = follow(self.events, store, self.feed, response_id, key.id, after, call=call)
        if not logprobs:
            frames = frames_without_logprobs(frames)
        keepalive = self._gateway.settings.stream_keepalive_seconds
        return SSEResponse(frames, SSE_HEADERS, heartbeat=lambda: KEEPALIVE, keepalive=keepalive)

    def _admit(self, model: str, key: ApiKey, ctx: RequestContext) -> None:
        ctx.model = model
        self._gateway.route_for(key, model)

    def _new_task(self, task_id: str, kind: TaskKind, job: _Submission) -> NewTask:
        endpoint = next(p for p, f in self._gateway.frontends.items() if f is job.frontend)
        return NewTask(
            id=task_id,
            kind=kind,
            key=job.key,
            endpoint=endpoint,
            request_id=job.ctx.request_id,
            model=job.ctx.model,
            body=job.body,
            headers=job.headers,
            callback_url=job.callback,
            created_at=job.ctx.created,
        )

    def announce_queued(self) -> None:
        """Wake the idle workers of every process: tasks are claimable."""
        self._signals.publish(TASK_QUEUED)

    def stop_runs(self, task_ids: list[str]) -> None:
        """Stop the runs of cancelled tasks, in whichever process they run."""
        for task_id in task_ids:
            self._signals.publish(TASK_CANCELLED, task_id)

    async def get(self, task_id: str, key: ApiKey) -> Task:
        """The key's own task; any other id is a 404, whoever owns it."""
        task = await self._call(self.store.get, task_id)
        if task is None or task.key.id != key.id:
            raise NotFoundError(f"No task with id {task_id!r}.", param="task_id")
        return task

    async def wait(self, task_id: str, key: ApiKey, seconds: float) -> Task:
        """The task once it reaches a final status, or as it is after `seconds`."""
        deadline = time.monotonic() + min(seconds, MAX_WAIT_SECONDS)
        with self.endings.subscription(task_id) as ended:
            while True:
                ended.clear()  # before the read: an end after it still wakes the wait
                task = await self.get(task_id, key)
                remaining = deadline - time.monotonic()
                if task.status in FINAL_STATUSES or remaining <= 0:
                    return task
                # The poll is the fallback for a signal that cannot come (another
                # process's end, without Redis).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, _POLL_SECONDS)):
                        await ended.wait()

    async def cancel(self, task_id: str, key: ApiKey) -> Task:
        task = await self.get(task_id, key)
        if task.status in FINAL_STATUSES:
            raise InvalidRequestError(
                f"Task {task_id} has already ended ({task.status}); it cannot be cancelled.",
                param="task_id",
                status=409,
            )
        if await self._call(self.store.cancel, task_id):
            self.stop_runs([task_id])
            self.announce_queued()  # the slot its run held takes the next task
            for callback in self.worker.ended:
                callback(task_id)
            if task.kind is TaskKind.RESPONSE:
                responses = self._gateway.database.responses
                await self._call(background.set_status, responses, task, "cancelled")
                self.feed.notify(task_id)  # its streaming clients end
        return await self.get(task_id, key)

    async def withdraw_response(self, response_id: str, key: ApiKey) -> None:
        """Delete the task of the key's background response `response_id`, which is
        being deleted. One that has not ended is cancelled first: a queued run never
        starts, a running one stops (as a cancel stops it) instead of spending upstream.
        The task goes too, since its request and result hold the response's content
        (GET /v1/tasks/{id} showed it until the purge); a webhook not yet delivered (the
        "cancelled" of a run stopped here) is still sent, without that content."""
        task = await self._call(self.store.get, response_id)
        if task is None or task.kind is not TaskKind.RESPONSE or task.key.id != key.id:
            return
        if task.status not in FINAL_STATUSES and await self._call(self.store.cancel, task.id):
            self.stop_runs([task.id])
            self.announce_queued()
            for callback in self.worker.ended:
                callback(task.id)
        await self._call(self.store.delete, task.id, key.id)

    async def list(self, key: ApiKey, limit: int, after: str | None) -> list[Task]:
        return await self._call(self.store.list, key.id, limit, after)

    async def _execute(self, task: Task) -> Outcome:
        if task.kind is TaskKind.BATCH:
            database = self._gateway.database
            if await database.call(database.batches.expire_claimed, task.id, time.time()):
                return Outcome()  # ended `expired`: nothing to run or record
        owned = self._reauthenticated(task)
        if isinstance(owned, Outcome):
            return owned
        return await self._run(owned)

    async def _run(self, task: Task) -> Outcome:
        refused = await self._refused_by_limits(task)
        if refused is not None:
            return refused
        if task.kind is not TaskKind.RESPONSE:
            return await run_task(self._gateway, task)
        store, call = self._gateway.database.responses, self._call
        if not await call(background.set_status, store, task, "in_progress"):
            return Outcome(error=_WITHDRAWN)  # deleted, or cancelled since the claim
        task = msgspec.structs.replace(task, body=background.unstored(task.body))
        if not is_streamed(task.body):
            outcome = await run_task(self._gateway, task)
            if outcome.result is None:
                return outcome
            result = background.promised(outcome.result, task.id)
            return msgspec.structs.replace(outcome, result=result)
        recorder = await call(Recorder, self.events, self.feed, task.id)
        return await run_streamed(
            self._gateway,
            task,
            recorder,
            lambda result: call(background.finish_response, store, task, result),
        )

    def _reauthenticated(self, task: Task) -> Task | Outcome:
        """The task with its key as it stands now, or the failed outcome of a key that
        was revoked, has expired or left the config since the submission: queued work
        (up to a whole batch) must stop spending upstream when its key's requests do,
        and its owner can no longer cancel it. Checked at every attempt, retries too."""
        try:
            key = self._gateway.authenticator.reauthenticate(task.key)
        except GatewayError as error:
            log.debug("task %s: not run, its key may no longer be used: %s", task.id, error)
            frontend = self._gateway.frontends.get(task.endpoint)
            if frontend is None:  # an endpoint no longer served: the key's error comes first
                failure = TaskError(type=error.kind, message=error.message, status=error.status)
                return Outcome(error=failure)
            return refused_outcome(frontend, error)
        return msgspec.structs.replace(task, key=key)

    async def _refused_by_limits(self, task: Task) -> Outcome | None:
        """A batch was admitted once when it was created; its requests count against the
        key's limits one by one as they run. Any other task was counted when it was
        submitted; it runs only while its key's token limits (tpm, token_budget) allow,
        which the tasks queued before it may have spent. A refusal is retried like a 429."""
        limiter = self._gateway.limiter
        try:
            if task.kind is TaskKind.BATCH:
                await limiter.admit(task.key)
            else:
                await limiter.check_tokens(task.key)
        except GatewayError as error:
            frontend = self._gateway.frontends.get(task.endpoint)  # None: run_task says so
            return None if frontend is None else refused_outcome(frontend, error)
        return None

    async def _on_end(self, task: Task, outcome: Outcome) -> None:
        if task.kind is not TaskKind.RESPONSE:
            return
        try:
            if await self._call(self._store_end, task, outcome):
                self.feed.notify(task.id)  # its streaming clients read the failure
        except (GatewayError, codec.DecodeError, ValueError):
            log.exception("could not store the end of background response %s", task.id)

    def _store_end(self, task: Task, outcome: Outcome) -> bool:
        """Store how a background response ended (a store call); whether a failure event
        ended its event stream."""
        store = self._gateway.database.responses
        if outcome.result is not None:
            background.finish_response(store, task, outcome.result)
            return False
        record = store.get(task.id, task.key.id)
        recorded = False
        if record is not None and outcome.error is not None and is_streamed(task.body):
            recorded = record_failure(self.events, task, record.response, outcome.error)
        background.set_status(store, task, "failed", outcome.error)
        return recorded


def _callback_url(document: dict[str, Any]) -> str | None:
    urls = {document.pop(name) for name in CALLBACK_FIELDS if name in document}
    if not urls:
        return None
    if len(urls) > 1:
        raise InvalidRequestError(
            "callback_url and webhook_url differ; send one of them", param="callback_url"
        )
    url = urls.pop()
    if not isinstance(url, str) or not url:
        raise InvalidRequestError("callback_url must be an http(s) URL", param="callback_url")
    return url
