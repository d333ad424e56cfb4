"""The async task mode's endpoints, and its wiring into the gateway.

`GET /v1/tasks` (the key's own tasks, newest first, paged by `limit` and `after`),
`GET /v1/tasks/{id}` (`?wait=N` waits up to N ≤ 60 seconds for a final status),
`POST /v1/tasks/{id}/cancel` and `POST /v1/responses/{id}/cancel` (background
responses). Another key's task is a 404, like an unknown id. Errors use OpenAI's body,
or Anthropic's when the request carries `anthropic-version`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay.errors import InvalidRequestError, NotFoundError
from polyrelay.storage import ApiKey
from polyrelay.tasks.model import FINAL_STATUSES, TaskKind, task_object
from polyrelay.tasks.service import MAX_WAIT_SECONDS, TaskService
from polyrelay.web import RESPONSES, Handler, authenticated, json_response

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["routes"]

_MAX_LIMIT = 100


def _number(value: str | None, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not low <= number <= high:
        raise InvalidRequestError(
            f"{name} must be a number from {low:g} to {high:g}, got {value!r}", param=name
        )
    return number


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= _MAX_LIMIT:
        raise InvalidRequestError(
            f"limit must be a whole number from 1 to {_MAX_LIMIT}, got {value!r}", param="limit"
        )
    return int(value)


def _get(service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        task_id = request.path_params["task_id"]
        wait = _number(request.query_params.get("wait"), "wait", 0, MAX_WAIT_SECONDS)
        if wait:
            task = await service.wait(task_id, key, wait)
        else:
            task = await service.get(task_id, key)
        return json_response(task_object(task))

    return handle


def _cancel(service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        return json_response(task_object(await service.cancel(request.path_params["task_id"], key)))

    return handle


def _list(service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        query = request.query_params
        limit = _limit(query.get("limit"))
        tasks = await service.list(key, limit + 1, query.get("after"))
        data = [task_object(task) for task in tasks[:limit]]
        return json_response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(tasks) > limit,
            }
        )

    return handle


def _cancel_response(gateway: Gateway, service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        response_id = request.path_params["response_id"]
        database = gateway.database
        stored = await database.call(database.responses.get, response_id, key.id)
        if stored is None:
            raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
        task = await database.call(service.store.get, response_id)
        if task is None or task.kind is not TaskKind.RESPONSE or task.key.id != key.id:
            raise InvalidRequestError(
                "Only responses created with background: true can be cancelled.",
                param="response_id",
            )
        if task.status not in FINAL_STATUSES:
            await service.cancel(response_id, key)
        record = await database.call(database.responses.get, response_id, key.id)
        return json_response(record.response if record is not None else stored.response)

    return handle


def routes(gateway: Gateway) -> list[BaseRoute]:
    service = TaskService(gateway)
    gateway.tasks = service
    gateway.on_startup.append(service.start)
    gateway.on_shutdown.append(service.stop)
    return [
        Route("/v1/tasks", authenticated(gateway, _list(service)), methods=["GET"]),
        Route("/v1/tasks/{task_id}", authenticated(gateway, _get(service)), methods=["GET"]),
        Route(
            "/v1/tasks/{task_id}/cancel", authenticated(gateway, _cancel(service)), methods=["POST"]
        ),
        Route(
            "/v1/responses/{response_id}/cancel",
            authenticated(gateway, _cancel_response(gateway, service), RESPONSES),
            methods=["POST"],
        ),
    ]
