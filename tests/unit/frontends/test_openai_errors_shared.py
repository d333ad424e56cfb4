"""Chat Completions and Responses render one failure identically."""

from __future__ import annotations

import pytest

from polyrelay.errors import (
    GatewayError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    UpstreamError,
)
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend


@pytest.mark.parametrize(
    "error",
    [
        PermissionDeniedError("nope"),
        NotFoundError("no model", code="model_not_found"),
        OverloadedError("busy"),
        UpstreamError("bad", status=400, kind="api_error"),
        UpstreamError("boom", status=500),
    ],
)
def test_same_error_same_body_on_both_endpoints(error: GatewayError) -> None:
    assert OpenAIChatFrontend().encode_error(error) == OpenAIResponsesFrontend().encode_error(error)
