"""Settings of the async task mode (the `tasks:` section of the config file)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["TasksSettings"]


class TasksSettings(msgspec.Struct, frozen=True, kw_only=True):
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4
    """How many tasks run at once in each server process."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    """Attempts per task for retryable upstream failures (429, 5xx, 529, network)."""
    retention_seconds: Annotated[int, msgspec.Meta(ge=60)] = 7 * 24 * 3600
    """Finished tasks are purged this long after they end."""
    webhook_secret: str | None = None
    """HMAC-SHA256 key for Standard Webhooks signatures (`whsec_<base64>` or plain text);
    when unset, a secret is generated and stored in the database on first use."""
    webhook_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
