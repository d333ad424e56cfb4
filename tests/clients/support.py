"""What the real-client tests share: an emulator and a gateway of the module's own
(tests/clients has no shared ones), with extra model routes for the client's names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.integration.conftest import Emulator
from tests.integration.servers import free_port, gateway_config, start, stop

__all__ = ["Servers", "run_servers"]


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
