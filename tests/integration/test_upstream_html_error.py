"""An upstream behind a load balancer that answers 502 with its HTML page, which names an
internal host: the client gets a 502 of its SDK's class saying what came, never the page;
the gateway's log has the page. Official SDKs → a real gateway → an upstream that serves
these exact bytes, on the same-protocol fast path and translated, JSON and streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving
from tests.integration.servers import STATIC_KEY

HOST = "internal-lb.corp.example:8443"
PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    f"</h1></center><hr><center>nginx/1.25.3 {HOST}</center></body></html>"
).encode()
OPENAI_MODEL, ANTHROPIC_MODEL = "behind-lb-openai", "behind-lb-anthropic"
_MESSAGES: Any = [{"role": "user", "content": "hello"}]


def load_balancer_page(path: str, body: bytes) -> Answer:
    """The load balancer: every request, any path, gets its 502 page."""
    return 502, {"content-type": "text/html"}, PAGE


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        load_balancer_page,
        tmp_path_factory.mktemp("upstream-html-error"),
        {"lb-openai": "openai", "lb-anthropic": "anthropic"},
        {OPENAI_MODEL: "provider: lb-openai", ANTHROPIC_MODEL: "provider: lb-anthropic"},
    )


def _log_size(gateway: Gateway) -> int:
    return gateway.log.stat().st_size


def _assert_told_not_shown(gateway: Gateway, logged_from: int, message: str, api: str) -> None:
    """`logged_from`: the log's size before the request, so this request's line is seen."""
    assert HOST not in message and "nginx" not in message and "<html" not in message
    assert "HTTP 502" in message and f"{api} API" in message and "text/html" in message
    with gateway.log.open("rb") as log:
        log.seek(logged_from)
        assert HOST.encode() in log.read()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("model", "api"),
    [(OPENAI_MODEL, "OpenAI"), (ANTHROPIC_MODEL, "Anthropic")],
    ids=["fast-path", "translated"],
)
def test_openai_client(gateway: Gateway, model: str, api: str, stream: bool) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    logged_from = _log_size(gateway)
    with pytest.raises(openai.InternalServerError) as info:
        result = client.chat.completions.create(model=model, messages=_MESSAGES, stream=stream)
        if stream:
            list(result)
    assert info.value.status_code == 502
    body: Any = info.value.body
    _assert_told_not_shown(gateway, logged_from, body["message"], api)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("model", "api"),
    [(ANTHROPIC_MODEL, "Anthropic"), (OPENAI_MODEL, "OpenAI")],
    ids=["fast-path", "translated"],
)
def test_anthropic_client(gateway: Gateway, model: str, api: str, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    logged_from = _log_size(gateway)
    with pytest.raises(anthropic.InternalServerError) as info:
        result = client.messages.create(
            model=model, max_tokens=100, messages=_MESSAGES, stream=stream
        )
        if stream:
            list(result)
    assert info.value.status_code == 502
    body: Any = info.value.body
    _assert_told_not_shown(gateway, logged_from, body["error"]["message"], api)
