"""The unknown-model 404 names only the models the asking key may use: /v1/models hides
the others from a key limited to some, and so does the error."""

from __future__ import annotations

import pytest

from polyrelay.errors import NotFoundError
from polyrelay.routing import Router
from polyrelay.settings import embedded_settings
from polyrelay.storage import ApiKey

ROUTER = Router(embedded_settings({}))
ALL = "claude-opus-4-6, claude-sonnet-4-5, gemini-2.5-flash, gpt-4o-mini, gpt-5-mini"


def _key(models: tuple[str, ...] | None) -> ApiKey:
    return ApiKey(id="k", name="k", prefix="sk-", models=models, created_at=0)


def _message(key: ApiKey | None) -> str:
    with pytest.raises(NotFoundError) as info:
        ROUTER.resolve("gpt-9", key)
    assert (info.value.status, info.value.code, info.value.param) == (
        404,
        "model_not_found",
        "model",
    )
    return info.value.message


def test_a_key_for_every_model_is_told_every_model() -> None:
    assert _message(_key(None)) == (
        f"The model 'gpt-9' does not exist or is not served here (models: {ALL})."
    )


@pytest.mark.parametrize(
    ("models", "listed"),
    [
        (("gpt-4o-mini",), "gpt-4o-mini"),
        (("retired-model", "gemini-2.5-flash", "gpt-4o-mini"), "gemini-2.5-flash, gpt-4o-mini"),
        (("retired-model",), "none"),
    ],
)
def test_a_limited_key_is_told_only_its_own_served_models(
    models: tuple[str, ...], listed: str
) -> None:
    assert _message(_key(models)) == (
        f"The model 'gpt-9' does not exist or is not served here (models: {listed})."
    )


def test_without_a_key_no_model_is_named() -> None:
    assert _message(None) == "The model 'gpt-9' does not exist or you do not have access to it."


def test_a_served_model_resolves_for_any_key() -> None:
    assert ROUTER.resolve("gpt-4o-mini", _key(("x",))).public_model == "gpt-4o-mini"
