"""Standard Webhooks signing and the secret's forms."""

from __future__ import annotations

import base64

import msgspec
import pytest

from polyrelay.tasks.settings import TasksSettings
from polyrelay.tasks.webhooks import secret_key, sign


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The vector from the Standard Webhooks reference libraries' tests.
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_plain_text_secret_is_used_as_is() -> None:
    assert secret_key("hunter2") == b"hunter2"
    assert secret_key("whsec_" + base64.b64encode(b"raw").decode()) == b"raw"


def test_malformed_whsec_secret_is_refused_at_load() -> None:
    with pytest.raises(msgspec.ValidationError, match="webhook_secret"):
        msgspec.convert({"webhook_secret": "whsec_!!"}, TasksSettings)
