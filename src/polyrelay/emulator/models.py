"""The model lists, in the OpenAI, Anthropic and Gemini shapes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from polyrelay.codec import JSONObject

__all__ = [
    "anthropic_model",
    "anthropic_models",
    "gemini_model",
    "gemini_models",
    "openai_model",
    "openai_models",
]


@dataclass(frozen=True, slots=True)
class _Model:
    id: str
    display_name: str
    owned_by: str
    created: int


_MODELS = (
    _Model("gpt-4o-mini", "GPT-4o mini", "openai", 1721172741),
    _Model("gpt-5-mini", "GPT-5 mini", "openai", 1754425928),
    _Model("claude-opus-4-6", "Claude Opus 4.6", "anthropic", 1770249600),
    _Model("claude-sonnet-4-5", "Claude Sonnet 4.5", "anthropic", 1759104000),
    _Model("gemini-2.5-flash", "Gemini 2.5 Flash", "google", 1750118400),
)
_BY_ID = {model.id: model for model in _MODELS}


def _find(model_id: str) -> _Model:
    # Any id is served (the emulator answers every model name), listed or not.
    return _BY_ID.get(model_id) or _Model(model_id, model_id, "polyrelay-emulator", 1767225600)


def openai_model(model_id: str) -> JSONObject:
    model = _find(model_id)
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


def openai_models() -> JSONObject:
    return {"object": "list", "data": [openai_model(model.id) for model in _MODELS]}


def anthropic_model(model_id: str) -> JSONObject:
    model = _find(model_id)
    created = datetime.fromtimestamp(model.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "created_at": created,
    }


def anthropic_models() -> JSONObject:
    data = [anthropic_model(model.id) for model in _MODELS]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


def gemini_model(model_id: str) -> JSONObject:
    model = _find(model_id.removeprefix("models/"))
    return {
        "name": f"models/{model.id}",
        "version": "001",
        "displayName": model.display_name,
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def gemini_models() -> JSONObject:
    return {"models": [gemini_model(model.id) for model in _MODELS]}
