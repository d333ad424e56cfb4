"""`GET /v1/responses/{id}/input_items` in a database outage: a response the process still
holds parked (answered, not yet written) is paged from memory, as `GET /v1/responses/{id}`
serves it; any other answers the outage's 503. (The store's `input_items` commits the
parked records before it reads, so in an outage it fails even for one it holds.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from starlette.testclient import TestClient

from polyrelay.app import Deps, create_app
from polyrelay.settings import embedded_settings
from polyrelay.storage import ApiKey, StoredResponse, open_database

AUTH = {"authorization": "Bearer sk-anything"}
KEY = ApiKey(id="key_1", name="k", prefix="sk-", created_at=0)
ITEMS: list[Any] = [
    {"id": f"msg_{n}", "type": "message", "role": "user", "content": [{"type": "input_text"}]}
    for n in range(3)
]
PARKED = StoredResponse(
    id="resp_parked",
    key_id=KEY.id,
    created_at=1,
    status="completed",
    response={"id": "resp_parked", "object": "response", "output": []},
    input_items=ITEMS,
    output_items=[{"id": "out_1", "type": "message"}],
)


def outage() -> psycopg.OperationalError:
    return psycopg.OperationalError("connection refused")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = embedded_settings({})
    database_url = f"sqlite:///{tmp_path / 'polyrelay.db'}"
    settings = msgspec.structs.replace(settings, database=database_url)
    database = open_database(database_url)
    app = create_app(settings, Deps(database))
    gateway = app.state.gateway

    async def authenticate(headers: object) -> ApiKey:
        return KEY

    def input_items(*args: Any, **kwargs: Any) -> Any:
        raise outage()  # its flush of the parked records meets the outage

    def get(response_id: str, key_id: str) -> StoredResponse | None:
        if response_id == PARKED.id and key_id == KEY.id:
            return PARKED  # what the store's `get` hands back of a parked record
        raise outage()

    gateway.authenticator.authenticate = authenticate
    database.responses.input_items = input_items
    database.responses.get = get
    try:
        yield TestClient(app, raise_server_exceptions=True)
    finally:
        database.close()


def test_a_parked_response_is_paged_from_memory(client: TestClient) -> None:
    answer = client.get("/v1/responses/resp_parked/input_items?limit=2", headers=AUTH)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert [item["id"] for item in document["data"]] == ["msg_2", "msg_1"]  # desc by default
    assert document["has_more"] is True
    after = client.get("/v1/responses/resp_parked/input_items?after=msg_0&order=asc", headers=AUTH)
    assert [item["id"] for item in after.json()["data"]] == ["msg_1", "msg_2"]
    # The parked record, still to be written, keeps its order.
    assert [item["id"] for item in PARKED.input_items] == ["msg_0", "msg_1", "msg_2"]


def test_a_response_not_held_answers_the_outage(client: TestClient) -> None:
    answer = client.get("/v1/responses/resp_other/input_items", headers=AUTH)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
