"""Stored Responses expire: a gateway with `responses.retention_seconds: 2` deletes them
(and what hangs on them) about two seconds after they were created."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import STATIC_KEY, configured_gateway


def test_an_expired_response_is_gone(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir: Path = tmp_path_factory.mktemp("retention")
    extra = "responses: {retention_seconds: 2}\n"
    with configured_gateway(emulator.url, workdir, extra) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=STATIC_KEY, max_retries=0)
        first = client.responses.create(model="claude-sonnet-4-5", input="remember me")
        assert client.responses.retrieve(first.id).id == first.id
        client.responses.create(
            model="claude-sonnet-4-5", input="and then", previous_response_id=first.id
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                client.responses.retrieve(first.id)
            except openai.NotFoundError:
                break
            assert time.monotonic() < deadline, "the response outlived its retention"
            time.sleep(0.25)
        with pytest.raises(openai.BadRequestError) as gone:
            client.responses.create(
                model="claude-sonnet-4-5", input="again", previous_response_id=first.id
            )
        assert gone.value.code == "previous_response_not_found"
