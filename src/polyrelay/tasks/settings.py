"""Settings of the async task mode (the `tasks:` section of the config file)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec

__all__ = ["TasksSettings"]

Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class TasksSettings(msgspec.Struct, frozen=True, kw_only=True):
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4
    """How many tasks run at once in each server process."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    """Attempts per task for retryable upstream failures (429, 5xx, 529, network) and for
    runs interrupted by a crash."""
    retention_seconds: Annotated[int, msgspec.Meta(ge=60)] = 7 * 24 * 3600
    """Finished tasks are purged this long after they end."""
    webhook_secret: str | None = None
    """HMAC-SHA256 key for Standard Webhooks signatures (`whsec_<base64>` or plain text);
    when unset, a secret is generated and stored in the database on first use."""
    webhook_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    lease_seconds: Seconds = 30.0
    """How long a claimed task stays owned by its worker without a heartbeat; a task whose
    server died becomes claimable again this long after its last heartbeat."""
    poll_seconds: Seconds = 1.0
    """How often an idle worker looks for tasks submitted to other server processes."""
    retry_base_seconds: Seconds = 1.0
    """First retry delay (tasks and webhooks); it doubles with each attempt."""

    def __post_init__(self) -> None:
        secret = self.webhook_secret
        if secret is not None and secret.startswith("whsec_"):
            try:
                base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except binascii.Error:
                raise ValueError("tasks.webhook_secret: invalid base64 after whsec_") from None
