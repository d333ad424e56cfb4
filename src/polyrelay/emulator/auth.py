"""An API key for the emulator, checked the way each provider checks its own.

`polyrelay emulator` checks no key (DESIGN.md: tests give it any). The emulator the
gateway mounts in its offline default does: the gateway's port is open to its clients,
and the emulator's request log holds every client's prompts. The key is accepted where
each provider takes it: `Authorization: Bearer` (OpenAI), `x-api-key` (Anthropic),
`x-goog-api-key` or `?key=` (Gemini); a request without it is refused in the error format
of the provider its path belongs to.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from polyrelay.emulator.errors import anthropic_error, gemini_error, openai_error

__all__ = ["RequireKey", "presented_keys"]

_KEY_HEADERS = (b"x-api-key", b"x-goog-api-key")


class RequireKey:
    """ASGI middleware: only requests that carry `key` reach the app."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(map(self._matches, presented_keys(scope))):
            await self.app(scope, receive, send)
            return
        await _refusal(scope)(scope, receive, send)

    def _matches(self, candidate: bytes) -> bool:
        return hmac.compare_digest(candidate, self._key)


def presented_keys(scope: Scope) -> list[bytes]:
    """Every credential the request carries, wherever a provider would look for it."""
    found = []
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            found.append(value[7:].strip())
        elif name in _KEY_HEADERS:
            found.append(value.strip())
    query = scope.get("query_string", b"").decode("latin-1")
    found += [value.encode("latin-1") for name, value in parse_qsl(query) if name == "key"]
    return found


def _refusal(scope: Scope) -> Response:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    headers = {name for name, _ in scope["headers"]}
    if path.startswith("/v1/messages") or b"anthropic-version" in headers:
        return anthropic_error(401, "invalid x-api-key")
    if path.startswith("/v1beta/") or ":" in path or b"x-goog-api-key" in headers:
        return gemini_error(403, "The request is missing a valid API key.")
    return openai_error(401, "Incorrect API key provided.")
