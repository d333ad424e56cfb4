"""One request can make the gateway fetch only so much (`fetch.max_per_request`,
`fetch.max_total_bytes`): past that it is a 400 naming the part, and what is past the
limit is never fetched.

A request's parts are converted concurrently, so the refusal may come before the fetches
within the limit have reached the file server: at most the limit of them do."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.media_helpers import PNG, FileServer
from tests.integration.servers import STATIC_KEY, gateway_config

EXTRA = (
    'fetch: {allow: ["127.0.0.1/32"], max_per_request: 2, '
    f"max_total_bytes: {2 * len(PNG) + 10}}}\n"
)


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("fetch-limits")
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "db.sqlite", extra=EXTRA))
    yield from serving_config(config)


def images(gateway: Gateway, urls: list[str]) -> httpx.Response:
    """Image URLs to Gemini, which the gateway fetches and inlines."""
    content = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]}
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers)


def test_up_to_the_limits_the_urls_are_fetched(gateway: Gateway, files: FileServer) -> None:
    files.hits.clear()
    response = images(gateway, [f"{files.url}/img.png"] * 2)
    assert response.status_code == 200, response.text
    assert files.hits == ["/img.png", "/img.png"]


def test_a_url_past_max_per_request_is_refused_unfetched(
    gateway: Gateway, files: FileServer
) -> None:
    files.hits.clear()
    response = images(gateway, [f"{files.url}/img.png"] * 3)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith("messages[0].content[")
    assert (
        "past the 2 URLs the gateway fetches for one request (fetch.max_per_request)"
        in (error["message"])
    )
    assert len(files.hits) <= 2  # the refusal cancels the fetches under way
