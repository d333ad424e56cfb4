"""`polyrelay serve`'s app: the heap start-up made is frozen once the app has started."""

from __future__ import annotations

import gc
from pathlib import Path

import msgspec
from starlette.testclient import TestClient

from polyrelay.server import served_app
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
