"""Whether a request body asks for the async task mode (tasks/service.py runs it)."""

from __future__ import annotations

from polyrelay import codec
from polyrelay.frontends import Frontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend

__all__ = ["CALLBACK_FIELDS", "asks_async"]

CALLBACK_FIELDS = ("callback_url", "webhook_url")
"""The service's own fields naming a URL to call back when the task ends."""


def asks_async(frontend: Frontend, body: bytes) -> bool:
    """Whether `body` asks for the async task mode: `async: true` (a Responses body:
    `background: true`) or a callback URL, among its top-level members. Only those are
    decoded: a search of the whole body for each name cost four passes over a 78 KB
    Claude Code turn (~6 % of its CPU), and a whole decode more when a tool's description
    happened to hold one."""
    try:
        document = codec.LazyObject.of(body)
    except codec.DecodeError:  # a body not an object too (a ValidationError)
        return False  # the frontend reports it
    flag = "background" if isinstance(frontend, OpenAIResponsesFrontend) else "async"
    return document.get(flag) is True or any(f in document for f in CALLBACK_FIELDS)
