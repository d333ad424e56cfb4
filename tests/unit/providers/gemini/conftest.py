"""Shared fixtures for the Gemini provider tests: a route, a context, fixture loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from polyrelay.context import RequestContext
from polyrelay.providers import Route
from polyrelay.settings import ModelConfig, ProviderConfig

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "gemini"


def make_route(upstream_model: str = "gemini-2.5-flash", api_key: str | None = "gk-test") -> Route:
    provider = ProviderConfig(
        name="google",
        type="gemini",
        base_url="https://gemini.example/",
        api_key=api_key,
        headers={"x-extra": "1"},
    )
    model = ModelConfig(name="flash", provider="google", model=upstream_model)
    return Route(
        public_model="flash", upstream_model=upstream_model, provider=provider, model=model
    )


@pytest.fixture
def route() -> Route:
    return make_route()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext("flash")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def route_for() -> Callable[..., Route]:
    return make_route


@pytest.fixture
def upstream() -> Callable[[str], bytes]:
    return fixture_bytes
