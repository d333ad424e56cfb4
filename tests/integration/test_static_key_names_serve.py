"""`polyrelay serve` refuses a config whose static keys share a name, before it listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.servers import free_port


def test_serve_refuses_two_static_keys_of_one_name(tmp_path: Path) -> None:
    config = tmp_path / "dup.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/dup.db\n"
        "providers:\n  emu: {type: openai, base_url: http://127.0.0.1:1/v1}\n"
        "models:\n  gpt-4o-mini: {provider: emu}\n"
        "keys:\n  - {key: sk-first-secret, name: ci}\n  - {key: sk-second-secret, name: ci}\n"
    )
    port = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "polyrelay", "serve", "--config", str(config), "--port", port],
        capture_output=True,
        text=True,
        timeout=30,  # without the check it would serve: the run times out
    )
    assert done.returncode == 2
    assert f"{config}:8: keys[1].name: duplicate name 'ci'" in done.stderr
    assert "keys[0], line 7" in done.stderr and "Traceback" not in done.stderr
    assert "sk-first-secret" not in done.stderr + done.stdout
