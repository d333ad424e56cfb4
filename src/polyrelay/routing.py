"""Model routing: the public model name a client sends → the provider that serves it."""

from __future__ import annotations

from polyrelay.errors import NotFoundError
from polyrelay.providers import Route
from polyrelay.settings import Settings

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

    def resolve(self, model: str) -> Route:
        route = self._routes.get(model)
        if route is None:
            known = ", ".join(sorted(self._routes)) or "none configured"
            raise NotFoundError(
                f"The model '{model}' does not exist or is not served here (models: {known}).",
                param="model",
                code="model_not_found",
            )
        return route

    def models(self) -> list[Route]:
        return list(self._routes.values())
