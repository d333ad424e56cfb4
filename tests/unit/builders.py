"""Builders the unit tests share: a resolved Route (provider + model config), a usage
store that keeps its rows in a list, and SDK clients that read one canned SSE body through
a mock transport."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import openai

from polyrelay.providers import Route
from polyrelay.settings import ModelConfig, ProviderConfig, ProviderType
from polyrelay.storage import UsageRecord

__all__ = ["UsageRows", "anthropic_sse_client", "openai_sse_client", "route"]


class UsageRows:
    """A UsageStore that keeps the recorded rows in `rows`."""

    def __init__(self) -> None:
        self.rows: list[UsageRecord] = []

    def record(self, row: UsageRecord) -> None:
        self.rows.append(row)


def route(
    type_: ProviderType,
    *,
    provider: str = "p",
    public: str = "m",
    upstream: str = "m",
    base_url: str = "https://upstream.test/v1",
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    provider_pdf: bool | None = None,
    **model_fields: Any,
) -> Route:
    """A Route to `upstream` on a provider of `type_`; `model_fields` go to ModelConfig."""
    config = ProviderConfig(
        name=provider,
        type=type_,
        base_url=base_url,
        api_key=api_key,
        headers=headers or {},
        pdf=provider_pdf,
    )
    model = ModelConfig(name=public, provider=provider, model=upstream, **model_fields)
    return Route(public_model=public, upstream_model=upstream, provider=config, model=model)


def openai_sse_client(sse: bytes, base_url: str, **options: Any) -> openai.OpenAI:
    """An OpenAI client whose every request is answered 200 with `sse`."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(api_key="k", base_url=base_url, http_client=http, **options)


def anthropic_sse_client(sse: bytes, base_url: str) -> anthropic.Anthropic:
    """An Anthropic client whose every request is answered 200 with `sse`."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(api_key="k", base_url=base_url, http_client=http)
