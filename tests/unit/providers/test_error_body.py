"""Every provider's `parse_error` on an error body that is not the provider's JSON: a
JSON body keeps its text (a vLLM or FastAPI server's message is for the user), anything
else (a load balancer's HTML page naming internal hosts) is logged and only described to
the client. The provider's own JSON error keeps its message."""

from __future__ import annotations

import logging

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamError, error_headers
from polyrelay.ir import StreamError
from polyrelay.providers import Provider, StreamParser, UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.anthropic.stream import AnthropicStreamParser
from polyrelay.providers.error_body import LOGGED_BYTES
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.providers.gemini.stream import GeminiStreamParser
from polyrelay.providers.openai_chat import OpenAIChatProvider, OpenAIChatStreamParser
from polyrelay.providers.openai_responses import OpenAIResponsesProvider
from polyrelay.providers.openai_responses.stream import OpenAIResponsesStreamParser

HOST = "internal-lb.corp.example:8443"
NGINX = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    f"</h1></center><hr><center>nginx/1.25.3 {HOST}</center></body></html>\r\n"
).encode()

PROVIDERS: dict[str, tuple[Provider, str]] = {
    "openai": (OpenAIChatProvider(), "OpenAI"),
    "openai-responses": (OpenAIResponsesProvider(), "OpenAI"),
    "anthropic": (AnthropicProvider(), "Anthropic"),
    "gemini": (GeminiProvider(), "Gemini"),
}
OWN_ERRORS = {
    "openai": b'{"error":{"message":"Unknown parameter: \'temprature\'.",'
    b'"type":"invalid_request_error","param":"temprature","code":"unknown_parameter"}}',
    "anthropic": b'{"type":"error","error":{"type":"invalid_request_error",'
    b'"message":"Unknown parameter: \'temprature\'."}}',
    "gemini": b'{"error":{"code":400,"message":"Unknown parameter: \'temprature\'.",'
    b'"status":"INVALID_ARGUMENT"}}',
}
OWN_ERRORS["openai-responses"] = OWN_ERRORS["openai"]
NAMES = list(PROVIDERS)


def _parse(name: str, status: int, body: bytes, **headers: str) -> UpstreamError:
    provider, _ = PROVIDERS[name]
    return provider.parse_error(UpstreamResponse(status=status, headers=headers, body=body))


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "polyrelay.upstream"]


@pytest.mark.parametrize("name", NAMES)
def test_a_proxy_page_is_described_not_quoted(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 502, NGINX, **{"content-type": "text/html; charset=utf-8"})
    assert (err.status, err.kind) == (502, "api_error")
    assert err.message == (
        "the upstream answered HTTP 502 with a body that is not an error of the"
        f" {PROVIDERS[name][1]} API (text/html, {len(NGINX)} bytes); see the gateway's log"
    )
    assert HOST not in err.message and "nginx" not in err.message
    [line] = _logged(caplog)
    assert HOST in line and "HTTP 502" in line
    assert "\n" not in line and "\r" not in line  # one log line, whatever the body holds


@pytest.mark.parametrize("name", NAMES)
def test_plain_text_keeps_status_kind_and_retry_after(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    body = b"upstream connect error or disconnect/reset before headers. 10.0.3.7:8080"
    err = _parse(name, 503, body, **{"retry-after": "4", "x-request-id": "abc123"})
    assert (err.status, err.kind, err.retry_after) == (503, "overloaded_error", "4")
    assert "10.0.3.7" not in err.message and "no content-type" in err.message
    [line] = _logged(caplog)
    assert "10.0.3.7" in line and "abc123" in line


@pytest.mark.parametrize("name", NAMES)
def test_the_log_gets_the_start_of_a_long_body(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 500, b"<html>" + b"x" * 10_000 + b"TAIL")
    assert "10010 bytes" in err.message
    [line] = _logged(caplog)
    assert "x" * (LOGGED_BYTES - 6) in line and "TAIL" not in line


@pytest.mark.parametrize("name", NAMES)
def test_a_content_type_that_is_not_a_media_type_is_not_repeated(name: str) -> None:
    err = _parse(name, 502, b"oops", **{"content-type": f"text/html {HOST}"})
    assert HOST not in err.message and "unrecognised content-type" in err.message


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_body(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 500, b"")
    assert err.message == "the upstream answered HTTP 500 with an empty body"
    assert _logged(caplog) == []


@pytest.mark.parametrize("name", NAMES)
def test_the_providers_own_error_keeps_its_message(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 400, OWN_ERRORS[name])
    assert (err.status, err.kind) == (400, "invalid_request_error")
    assert err.message == "Unknown parameter: 'temprature'."
    assert _logged(caplog) == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"object":"error","message":"max_tokens is too large","code":400}', None),
        (b'{"detail":"max_tokens is too large"}', None),
        (b'{"error":"max_tokens is too large"}', None),
        # No message field: the JSON text itself, an API's answer rather than a page.
        (
            b'{"detail":[{"loc":["body","max_tokens"],"msg":"max_tokens is too large"}]}',
            '{"detail":[{"loc":["body","max_tokens"],"msg":"max_tokens is too large"}]}',
        ),
    ],
    ids=["vllm", "fastapi", "proxy", "fastapi-validation"],
)
def test_json_of_another_shape_keeps_its_text(
    name: str, body: bytes, message: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 400, body, **{"content-type": "application/json"})
    assert err.status == 400
    assert err.message == (message or "max_tokens is too large")
    assert _logged(caplog) == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_is_still_the_gateways_fault(
    name: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A WAF's HTML 403 is logged (the operator needs to see it was not the provider)
    and the client still gets the credential error, without the page."""
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, status, NGINX, **{"content-type": "text/html"})
    assert (err.status, err.kind) == (500, "api_error") and "credential" in err.message
    assert HOST not in err.message
    assert any(HOST in line for line in _logged(caplog))


RATE_LIMITS = {
    "x-ratelimit-remaining-requests": "0",
    "anthropic-ratelimit-tokens-reset": "2026-12-05T10:00:00Z",
    "retry-after-ms": "120",
}


@pytest.mark.parametrize("name", ["openai", "openai-responses", "anthropic"])
def test_an_error_carries_the_upstreams_rate_limit_headers_to_the_client(name: str) -> None:
    headers = {**RATE_LIMITS, "retry-after": "1", "x-request-id": "up-1", "server": HOST}
    error = _parse(name, 429, OWN_ERRORS[name], **headers)
    # The limits and both retry delays; the upstream's own ids and software stay behind.
    assert error_headers(error) == {**RATE_LIMITS, "retry-after": "1"}


def test_a_gateway_error_has_only_its_retry_after() -> None:
    assert error_headers(GatewayError("busy", status=503, retry_after="1")) == {"retry-after": "1"}
    assert error_headers(GatewayError("bug")) == {}


ODD_ERRORS = {
    "openai": b'{"error":{"message":"Slow down.","type":7,"param":["a"],"code":429.0}}',
    "anthropic": b'{"type":"error","error":{"type":{"x":1},"message":"Slow down."},'
    b'"request_id":12345}',
    "gemini": b'{"error":{"code":"429","message":"Slow down.","status":7,"details":{"a":1}}}',
}
ODD_ERRORS["openai-responses"] = ODD_ERRORS["openai"]


@pytest.mark.parametrize("name", NAMES)
def test_the_providers_own_error_with_odd_member_types_keeps_its_message(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A member of a type the provider never documents is left out; the message and the
    status stay (the message was the body's JSON text)."""
    caplog.set_level(logging.WARNING, "polyrelay.upstream")
    err = _parse(name, 429, ODD_ERRORS[name], **{"retry-after": "2"})
    assert (err.status, err.kind, err.retry_after) == (429, "rate_limit_error", "2")
    assert err.message == "Slow down."
    assert _logged(caplog) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b"429.0", "429"),
        (b"429", "429"),
        (b"4.5", "4.5"),
        (b'"rate_limit"', "rate_limit"),
        (b"true", None),
        (b"null", None),
        (b"[429]", None),
        (b"{}", None),
    ],
)
def test_an_openai_code_is_text_whatever_its_type(code: bytes, expected: str | None) -> None:
    err = _parse("openai", 400, b'{"error":{"message":"m","code":' + code + b"}}")
    assert (err.message, err.code) == ("m", expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("message", [b"[1,2]", b"{}", b"null", b"false"])
def test_a_message_that_is_not_text_keeps_the_body_as_json(name: str, message: bytes) -> None:
    body = b'{"error":{"message":' + message + b',"type":"x"}}'
    err = _parse(name, 500, body)
    assert (err.status, err.message) == (500, body.decode())


IN_BAND = {
    "openai": b'data: {"error":{"message":"Slow down.","type":"rate_limit_error","param":7}}',
    "openai-responses": b'event: error\ndata: {"type":"error","code":"rate_limit_exceeded",'
    b'"message":"Slow down.","param":7}',
    "anthropic": b'event: error\ndata: {"type":"error","error":{"type":null,'
    b'"message":"Slow down."}}',
    "gemini": b'data: {"error":{"code":"429","message":"Slow down.","details":{}}}',
}
IN_BAND_STATUS = {"openai": 429, "openai-responses": 429, "anthropic": 500, "gemini": 429}


@pytest.mark.parametrize("name", NAMES)
def test_an_error_event_with_odd_member_types_keeps_its_message(name: str) -> None:
    """It ended the stream as an event the gateway cannot read (a 502)."""
    parser: StreamParser = {
        "openai": lambda: OpenAIChatStreamParser(RequestContext()),
        "openai-responses": lambda: OpenAIResponsesStreamParser(RequestContext()),
        "anthropic": lambda: AnthropicStreamParser(RequestContext()),
        "gemini": lambda: GeminiStreamParser("m"),
    }[name]()
    events = parser.feed(IN_BAND[name] + b"\n\n") + parser.finish()
    [event] = events
    assert isinstance(event, StreamError)
    assert (event.status, event.message) == (IN_BAND_STATUS[name], "Slow down.")
