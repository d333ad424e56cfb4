"""Whether a request body asks for the async task mode (tasks/service.py runs it)."""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.frontends import Frontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend

__all__ = ["CALLBACK_FIELDS", "asks_async"]

CALLBACK_FIELDS = ("callback_url", "webhook_url")
"""The service's own fields naming a URL to call back when the task ends."""


def asks_async(frontend: Frontend, document: JSONObject | None) -> bool:
    """Whether a body asks for the async task mode: `async: true` (a Responses body:
    `background: true`) or a callback URL, among its top-level members (`document`,
    codec.top_level; None for a body that is no JSON object, which the frontend reports).
    Only those are read: a search of the whole body for each name cost four passes over a
    78 KB Claude Code turn (~6 % of its CPU), and a whole decode more when a tool's
    description happened to hold one."""
    if document is None:
        return False
    flag = "background" if isinstance(frontend, OpenAIResponsesFrontend) else "async"
    return document.get(flag) is True or any(f in document for f in CALLBACK_FIELDS)
