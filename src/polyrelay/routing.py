"""Model routing: the public model name a client sends → the provider that serves it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyrelay.errors import NotFoundError
from polyrelay.providers import Route
from polyrelay.settings import Settings

if TYPE_CHECKING:
    from polyrelay.storage import ApiKey

__all__ = ["Router"]


class Router:
    def __init__(self, settings: Settings) -> None:
        # Routes are immutable, so they are built once, not per request.
        self._routes = {
            name: Route(
                public_model=name,
                upstream_model=model.model or name,
                provider=settings.providers[model.provider],
                model=model,
            )
            for name, model in settings.models.items()
        }

    def resolve(self, model: str, key: ApiKey | None = None) -> Route:
        """The route of `model`, else a 404 that lists the models `key` may use, as
        /v1/models shows them to it; without a key, none (they are no one's business)."""
        route = self._routes.get(model)
        if route is None:
            raise NotFoundError(self._unknown(model, key), param="model", code="model_not_found")
        return route

    def _unknown(self, model: str, key: ApiKey | None) -> str:
        if key is None:
            return f"The model '{model}' does not exist or you do not have access to it."
        usable = (
            self._routes.keys() if key.models is None else set(key.models) & self._routes.keys()
        )
        known = ", ".join(sorted(usable)) or "none"
        return f"The model '{model}' does not exist or is not served here (models: {known})."

    def models(self) -> list[Route]:
        return list(self._routes.values())
