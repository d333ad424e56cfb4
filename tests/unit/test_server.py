"""`polyrelay serve`'s app: the heap start-up made is frozen once the app has started, and
worker processes share the embedded emulator's secret."""

from __future__ import annotations

import gc
from pathlib import Path

import msgspec
import pytest
from starlette.testclient import TestClient

from polyrelay import codec
from polyrelay.server import app_from_env, served_app
from polyrelay.settings import embedded_settings


def test_served_app_freezes_the_start_up_heap(tmp_path: Path) -> None:
    settings = embedded_settings({})
    settings = msgspec.structs.replace(settings, database=f"sqlite:///{tmp_path / 'db.sqlite'}")
    gc.unfreeze()
    app = served_app(settings)
    try:
        assert gc.get_freeze_count() == 0  # nothing happens before the app starts
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/").status_code == 200
    finally:
        gc.unfreeze()


def test_workers_built_from_the_environment_share_the_emulator_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = embedded_settings({})
    settings = msgspec.structs.replace(settings, database=f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("POLYRELAY_WORKER_SETTINGS", codec.encode_str(settings))
    first, second = app_from_env(), app_from_env()  # as two worker processes build theirs
    sent = first.state.gateway.settings.providers["emulator-openai"].api_key
    assert sent == settings.embedded_emulator_key
    chat = {"model": "m", "messages": [{"role": "user", "content": "from the first"}]}
    mount = "/_upstream/emulator/v1/chat/completions"
    try:
        with TestClient(second) as client:
            answer = client.post(mount, json=chat, headers={"authorization": f"Bearer {sent}"})
            assert answer.status_code == 200, answer.text
            refused = client.post(mount, json=chat, headers={"authorization": "Bearer other"})
            assert refused.status_code == 401
    finally:
        gc.unfreeze()
