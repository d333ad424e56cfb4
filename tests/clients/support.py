"""What the real-client tests share: an emulator and a gateway of the module's own
(tests/clients has no shared ones), with extra model routes for the client's names."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.integration.conftest import Emulator
from tests.integration.servers import free_port, gateway_config, start, stop
from tests.integration.web_search_support import INGEST, write_pages

__all__ = ["Servers", "run_servers", "run_servers_with_search", "tool"]


class Servers:
    def __init__(self, gateway: str, emulator: Emulator, log: Path) -> None:
        self.gateway = gateway
        self.emulator = emulator
        self.log = log


def run_servers(workdir: Path, models: Iterable[str], extra: str = "") -> Iterator[Servers]:
    """Start both in `workdir`, the YAML `models` lines added to the gateway's config (and
    the top-level YAML `extra`); yield them, then stop them."""
    emulator_url = f"http://127.0.0.1:{free_port()}"
    port = emulator_url.rsplit(":", 1)[1]
    emulator = start(["emulator", "--port", port], emulator_url + "/", workdir / "emulator.log")
    lines = "".join(f"  {line}\n" for line in models)
    config = gateway_config(emulator_url, workdir / "db.sqlite", extra)
    (workdir / "polyrelay.yaml").write_text(config.replace("models:\n", "models:\n" + lines, 1))
    url = f"http://127.0.0.1:{free_port()}"
    args = ["serve", "--config", str(workdir / "polyrelay.yaml"), "--port", url.rsplit(":", 1)[1]]
    gateway = start(args, url + "/", workdir / "gateway.log")
    yield Servers(url, Emulator(emulator_url), workdir / "gateway.log")
    stop(gateway)
    stop(emulator)


def run_servers_with_search(workdir: Path, models: Iterable[str]) -> Iterator[Servers]:
    """`run_servers` whose gateway searches a local index of the test pages (the gateway's
    own web search, for clients whose search it runs)."""
    write_pages(workdir / "pages")
    extra = f"search: {{backend: local, index_path: {workdir / 'search.db'}}}\n"
    config = workdir / "ingest.yaml"
    config.write_text(gateway_config("http://127.0.0.1:9", workdir / "ingest.db", extra))
    ingest = [*INGEST, str(workdir / "pages"), "--config", str(config)]
    done = subprocess.run(ingest, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    yield from run_servers(workdir, models, extra)


def tool(name: str, arguments: dict[str, Any]) -> str:
    """The emulator's directive for a call of tool `name` with `arguments`."""
    return f"[[tool {name} {json.dumps(arguments, ensure_ascii=False)}]]"
