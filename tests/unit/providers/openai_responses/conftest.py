"""Shared fixtures for the OpenAI Responses provider tests."""

from __future__ import annotations

from pathlib import Path

from polyrelay.providers import Route
from polyrelay.settings import ModelConfig, ProviderConfig

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "openai-responses"


def make_route(api_key: str | None = "sk-test") -> Route:
    provider = ProviderConfig(
        name="oai",
        type="openai-responses",
        base_url="https://api.example/v1/",
        api_key=api_key,
        headers={"x-extra": "1"},
    )
    model = ModelConfig(name="smart", provider="oai", model="gpt-5")
    return Route(public_model="smart", upstream_model="gpt-5", provider=provider, model=model)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
