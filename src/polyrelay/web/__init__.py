"""HTTP endpoints beyond the three protocol routes (models, count_tokens, stored responses,
tasks). Each module exposes `routes(gateway) -> list[BaseRoute]` and may register start-up
and shut-down work on the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["EndpointModule"]


class EndpointModule(Protocol):
    def routes(self, gateway: Gateway) -> list[BaseRoute]: ...
