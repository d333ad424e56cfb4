"""The Responses WebSocket mode through a real gateway, for the tests that open sockets."""

from __future__ import annotations

from typing import Any

import websockets.sync.client as ws_client

from tests.integration.conftest import Gateway
from tests.integration.servers import STATIC_KEY

ENDS = ("response.completed", "response.failed", "response.incomplete", "error")
"""The events that end a turn."""


def connect(gateway: Gateway) -> Any:
    """A WebSocket to `gateway`'s /v1/responses with the test key (a context manager)."""
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    return ws_client.connect(url, additional_headers={"authorization": f"Bearer {STATIC_KEY}"})
