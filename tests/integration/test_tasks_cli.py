"""`python -m polyrelay tasks list|show|webhook-secret` against a database with tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyrelay.storage import ApiKey, open_database
from polyrelay.tasks.model import NewTask, TaskKind

SRC = Path(__file__).resolve().parents[2] / "src"


def run(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POLYRELAY_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "polyrelay", "tasks", *args, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    database = tmp_path / "tasks.db"
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"database: sqlite:///{database}\n"
        "default_model: gpt-4o-mini\n"
        "providers:\n  emu: {type: openai, base_url: http://127.0.0.1:1/v1}\n"
        "models:\n  gpt-4o-mini: {provider: emu}\n"
    )
    db = open_database(f"sqlite:///{database}")
    try:
        for n, key_id in enumerate(["key_a", "key_a", "key_b"]):
            key = ApiKey(id=key_id, name=key_id, prefix="", created_at=0)
            db.tasks.enqueue(
                NewTask(
                    id=f"task_{n}",
                    kind=TaskKind.TASK,
                    key=key,
                    endpoint="/v1/chat/completions",
                    request_id=f"req_{n}",
                    model="gpt-4o-mini",
                    body=b"{}",
                    headers={},
                    callback_url=None,
                    created_at=1_700_000_000 + n,
                )
            )
        claimed = db.tasks.claim("cli-test", 30)
        assert claimed is not None
        db.tasks.complete(claimed.id, "cli-test", b'{"answer": 42}')
    finally:
        db.close()
    return path


def test_list_shows_tasks_newest_first_and_filters_by_key(config: Path) -> None:
    listing = run("list", config=config)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "KEY"]
    assert [line.split()[0] for line in lines[1:]] == ["task_2", "task_1", "task_0"]
    assert lines[-1].split()[1] == "success"
    only_b = run("list", "--key", "key_b", "--limit", "5", config=config)
    assert [line.split()[0] for line in only_b.stdout.splitlines()[1:]] == ["task_2"]


def test_show_prints_the_task_object(config: Path) -> None:
    shown = run("show", "task_0", config=config)
    assert shown.returncode == 0, shown.stderr
    task = json.loads(shown.stdout)
    assert task["status"] == "success" and task["result"] == {"answer": 42}
    assert task["key_id"] == "key_a"
    missing = run("show", "task_nope", config=config)
    assert missing.returncode == 1 and "no task with id 'task_nope'" in missing.stderr


def test_webhook_secret_is_generated_once(config: Path) -> None:
    first = run("webhook-secret", config=config)
    second = run("webhook-secret", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("whsec_") and first.stdout == second.stdout
