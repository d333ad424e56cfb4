"""An exception no endpoint expected is answered in the endpoint's protocol, never with the
server's plain-text 500: a 500 for a fault of the gateway (its traceback logged with the
request id the client gets), a 503 with `retry-after` for a database out of reach (PostgreSQL
down or restarting, SQLite locked by another process)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from tests.unit.sqlite_errors import locked_sqlite_error

from polyrelay.app import Deps, create_app
from polyrelay.settings import embedded_settings
from polyrelay.storage import ApiKey, open_database
from polyrelay.web import ANTHROPIC, CHAT, authenticated, with_request_id

AUTH = {"authorization": "Bearer sk-anything"}
VERSION = {"anthropic-version": "2023-06-01"}
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES_BODY = {**CHAT_BODY, "max_tokens": 10}

# (method, path, extra headers, body, protocol whose error shape the client reads)
ENDPOINTS: list[tuple[str, str, dict[str, str], Any, str]] = [
    ("GET", "/v1/responses/resp_1", {}, None, "openai"),
    ("GET", "/v1/responses/resp_1/input_items", {}, None, "openai"),
    ("DELETE", "/v1/responses/resp_1", {}, None, "openai"),
    ("GET", "/v1/tasks", {}, None, "openai"),
    ("GET", "/v1/tasks/task_1", {}, None, "openai"),
    ("POST", "/v1/tasks/task_1/cancel", {}, None, "openai"),
    ("GET", "/v1/usage", {}, None, "openai"),
    ("GET", "/v1/usage", VERSION, None, "anthropic"),
    ("GET", "/v1/models", {}, None, "openai"),
    ("GET", "/v1/messages/batches", {}, None, "anthropic"),
    ("GET", "/v1/messages/batches/msgbatch_1", {}, None, "anthropic"),
    ("POST", "/v1/messages/count_tokens", VERSION, MESSAGES_BODY, "anthropic"),
    ("POST", "/v1/chat/completions", {}, CHAT_BODY, "openai"),
    ("POST", "/v1/responses", {}, {"model": "gpt-4o-mini", "input": "hi"}, "openai"),
    ("POST", "/v1/messages", VERSION, MESSAGES_BODY, "anthropic"),
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    settings = embedded_settings({})
    database_url = f"sqlite:///{tmp_path / 'polyrelay.db'}"
    settings = msgspec.structs.replace(settings, database=database_url)
    database = open_database(database_url)
    try:
        yield create_app(settings, Deps(database))
    finally:
        database.close()


def _failing(app: Starlette, exc: BaseException) -> None:
    """Every endpoint's first step, authentication, raises `exc`."""

    async def authenticate(headers: object) -> ApiKey:
        raise exc

    app.state.gateway.authenticator.authenticate = authenticate


def _call(client: TestClient, endpoint: tuple[str, str, dict[str, str], Any, str]) -> Any:
    method, path, headers, body, _ = endpoint
    return client.request(method, path, headers={**AUTH, **headers}, json=body)


def _assert_shape(answer: Any, protocol: str, status: int, message: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    if protocol == "anthropic":
        assert document["type"] == "error"
        assert document["error"]["type"] == "api_error"
    else:
        assert set(document["error"]) == {"message", "type", "param", "code"}
        assert document["error"]["type"] == "server_error"
    assert message in document["error"]["message"]
    assert answer.headers["request-id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]} {e[4]}")
def test_a_fault_is_a_500_in_the_endpoints_protocol_logged_with_its_request_id(
    app: Starlette, endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _failing(app, RuntimeError("a bug"))
    with caplog.at_level(logging.ERROR, logger="polyrelay"):
        answer = _call(TestClient(app, raise_server_exceptions=True), endpoint)
    _assert_shape(answer, endpoint[4], 500, "internal error")
    assert "retry-after" not in answer.headers
    logged = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert len(logged) == 1
    assert answer.headers["request-id"] in logged[0].getMessage()
    assert f"{endpoint[0]} {endpoint[1]}" in logged[0].getMessage()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]} {e[4]}")
@pytest.mark.parametrize("failure", ["postgres", "sqlite-locked"])
def test_a_database_out_of_reach_is_a_503_to_retry(
    app: Starlette, endpoint: Any, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc: Exception = locked_sqlite_error()
    if failure == "postgres":
        exc = psycopg.OperationalError("server closed the connection unexpectedly")
    _failing(app, exc)
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        answer = _call(TestClient(app, raise_server_exceptions=True), endpoint)
    _assert_shape(answer, endpoint[4], 503, "database is unavailable")
    assert answer.headers["retry-after"] == "1"
    # Not a bug: one line per request, no traceback, with the request id.
    (logged,) = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert logged.exc_info is None
    assert answer.headers["request-id"] in logged.getMessage()


def test_a_handler_that_raises_after_authentication(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    """The wrapper itself, around a handler of its own: the request id in the log is the
    one `with_request_id` leaves on the answer."""
    gateway = app.state.gateway

    async def authenticate(headers: object) -> ApiKey:
        return ApiKey(id="key_1", name="k", prefix="sk-", created_at=0)

    async def handler(request: Request, key: ApiKey) -> Response:
        raise KeyError("missing")

    gateway.authenticator.authenticate = authenticate
    routes = [
        Route("/anthropic", with_request_id(authenticated(gateway, handler, ANTHROPIC))),
        Route("/chat", authenticated(gateway, handler, CHAT)),
        Route("/either", authenticated(gateway, handler)),
    ]
    client = TestClient(Starlette(routes=routes))
    with caplog.at_level(logging.ERROR, logger="polyrelay"):
        anthropic = client.get("/anthropic", headers=AUTH)
        chat = client.get("/chat", headers=AUTH)
        either = client.get("/either", headers={**AUTH, **VERSION})
    _assert_shape(anthropic, "anthropic", 500, "internal error")
    _assert_shape(chat, "openai", 500, "internal error")
    _assert_shape(either, "anthropic", 500, "internal error")
    messages = [r.getMessage() for r in caplog.records if r.exc_info]
    assert len(messages) == 3
    assert anthropic.headers["request-id"] in messages[0]
