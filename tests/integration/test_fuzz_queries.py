"""Odd ids and query strings on every GET, DELETE and cancel endpoint of a real gateway:
whatever the URL, the answer is a success or a JSON error, never a 500, and the gateway
logs no unhandled error (POLYRELAY_FUZZ_EXAMPLES examples a test, 60 by default)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import given, strategies as st

from tests.fuzz_support import FUZZ, UNHANDLED, LogReader
from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import STATIC_KEY

_PAGES = ["limit", "after_id", "before_id"]
ENDPOINTS = [  # each with the query parameters it reads, and one it does not
    ("GET", "/v1/models", _PAGES),
    ("GET", "/v1/models/{id}", []),
    ("GET", "/v1/responses/{id}", ["stream", "starting_after", "include", "include[]"]),
    ("GET", "/v1/responses/{id}/input_items", ["limit", "after", "order", "include"]),
    ("DELETE", "/v1/responses/{id}", []),
    ("POST", "/v1/responses/{id}/cancel", []),
    ("GET", "/v1/tasks", ["limit", "after"]),
    ("GET", "/v1/tasks/{id}", ["wait"]),
    ("POST", "/v1/tasks/{id}/cancel", []),
    ("GET", "/v1/messages/batches", _PAGES),
    ("GET", "/v1/messages/batches/{id}", []),
    ("GET", "/v1/messages/batches/{id}/results", []),
    ("POST", "/v1/messages/batches/{id}/cancel", []),
    ("DELETE", "/v1/messages/batches/{id}", []),
    ("GET", "/v1/usage", ["since", "group_by"]),
]
ODD_VALUES = [
    "", "0", "-1", "1", "100", "101", "1e3", "1.5", "NaN", "inf", "-0", "9" * 40, "true",
    "false", "asc", "desc", "day", "model", "key", "hour", "resp_", "task_x", "msgbatch_x",
    "\u00e9\u4e2d", "\x00", "a" * 300, "2026-12-05", "2026-12-05T00:00:00Z",
]  # fmt: skip
IDS = st.one_of(
    st.sampled_from(["resp_x", "task_x", "msgbatch_x", "gpt-4o-mini", "..", "%2F", "a" * 500]),
    st.text(min_size=1, max_size=20),
)
VALUES = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.integers(min_value=2**62, max_value=2**80).map(str),  # past a 64-bit column
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(tmp_path_factory.mktemp("fuzz-queries"), emulator)


@pytest.mark.parametrize(("method", "template", "parameters"), ENDPOINTS, ids=str)
@FUZZ
@given(data=st.data(), identifier=IDS)
def test_an_odd_url_gets_an_answer(
    method: str,
    template: str,
    parameters: list[str],
    data: st.DataObject,
    identifier: str,
    gateway: Gateway,
) -> None:
    names = st.sampled_from([*parameters * 3, "unknown"])  # an unknown one is refused first
    query = data.draw(st.lists(st.tuples(names, VALUES), max_size=4), label="query")
    path = template.replace("{id}", quote(identifier, safe=""))
    url = f"{gateway.url}{path}?{urlencode(query)}"
    log = LogReader(gateway.log)
    headers = {"authorization": f"Bearer {STATIC_KEY}", "x-api-key": STATIC_KEY}
    with httpx.stream(method, url, headers=headers, timeout=30) as reply:
        reply.read()
    assert reply.status_code != 500, reply.text
    if reply.status_code >= 400:
        assert "error" in json.loads(reply.text), reply.text
    logged = log.new_text()
    assert not any(marker in logged for marker in UNHANDLED), logged
