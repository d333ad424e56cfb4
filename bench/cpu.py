"""CPU per request, measured two ways that the machine's noise cannot swing much.

`cpu_rounds`: every path and kind, short wrk runs at one connection count, repeated in
interleaved rounds (round 1 runs every cell, then round 2 ...), so a noisy stretch of the
shared machine hits every path alike; a cell's figure is its least disturbed (minimum)
round, and a multiple of two cells is the median of their per-round multiples (two runs of
one round are seconds apart, so the machine's drift mostly cancels in them). On a 2-core
machine that shares its host, the CPU time a process is charged includes time it was
descheduled by the hypervisor, so single runs swing by ±30 %.

`instruction_counts` (optional, `--instructions N`): a second gateway under valgrind's
callgrind, N sequential requests per cell with instrumentation on only around them. The
count of executed instructions is repeatable run to run whatever else the machine does; it
leaves out the kernel's work (system calls) and waiting, so it complements the CPU time.
"""

from __future__ import annotations

import http.client
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from bench import bodies
from bench.load import run_wrk
from bench.peers import MODELS, Target, gateway_config
from bench.procs import Child, cpu_seconds, free_port, wait_port
from bench.upstream import Upstream

__all__ = ["cpu_rounds", "instruction_counts"]

Cells = Iterable[tuple[str, str, str, bool]]
"""(path name, client protocol, upstream protocol, stream)."""


def cpu_rounds(
    target: Target, cells: Cells, *, rounds: int, seconds: float, connections: int, workdir: Path
) -> dict[str, list[float | None]]:
    """`path/kind` -> CPU ms per request in each of `rounds` interleaved runs (None for a
    run that went wrong)."""
    cells = list(cells)
    each: dict[str, list[float | None]] = {}
    for _ in range(rounds):
        for path, client, upstream, stream in cells:
            body = bodies.path_request(path, client, target.model(upstream, stream, path), stream)
            cpu0 = cpu_seconds(target.child.pid)
            result = run_wrk(
                target.url(client),
                body,
                bodies.markers(client, stream),
                key=target.key,
                connections=connections,
                seconds=seconds,
                workdir=workdir,
            )
            cpu = cpu_seconds(target.child.pid) - cpu0
            runs = each.setdefault(f"{path}/{'stream' if stream else 'json'}", [])
            # a bad run measures nothing; the cell keeps its other rounds
            bad = result.failure or result.errors or not result.requests
            runs.append(None if bad else cpu * 1000 / result.requests)
    return each


def instruction_counts(
    upstream: Upstream, cells: Cells, *, requests: int, workdir: Path
) -> dict[str, float]:
    """`path/kind` -> millions of instructions per request (gateway process, all threads)."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise RuntimeError("valgrind is not installed (apt-get install -y valgrind)")
    port, key = free_port(), "sk-bench-" + secrets.token_urlsafe(36)
    config = workdir / f"callgrind-{port}.yaml"
    text = gateway_config(upstream, port, key, workdir / f"callgrind-{port}.db")
    config.write_text(text.replace("__KEY__", key).replace("__PORT__", str(port)))
    out_dir = workdir / f"callgrind-{port}"
    out_dir.mkdir()
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    argv += [f"--callgrind-out-file={out_dir}/out.%p", *_serve_argv(config, port)]
    child = Child("polyrelay-callgrind", argv, workdir / f"callgrind-{port}.log")
    target = Target("polyrelay", child, port, key, model_names=dict(MODELS))
    try:
        if not wait_port(port, 300):
            raise RuntimeError(f"polyrelay under valgrind did not start: {child.tail()}")
        return {
            f"{path}/{'stream' if stream else 'json'}": _count(
                target, path, client, upstream_protocol, stream, requests, out_dir
            )
            for path, client, upstream_protocol, stream in cells
        }
    finally:
        child.stop()


def _serve_argv(config: Path, port: int) -> list[str]:
    serve = [sys.executable, "-m", "polyrelay", "serve", "--config", str(config)]
    return [*serve, "--port", str(port), "--workers", "1"]


def _count(
    target: Target,
    path: str,
    client: str,
    upstream: str,
    stream: bool,
    requests: int,
    out_dir: Path,
) -> float:
    body = bodies.path_request(path, client, target.model(upstream, stream, path), stream)
    url = urlsplit(target.url(client))
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)
    headers = {
        "Authorization": f"Bearer {target.key}",
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
    }

    def send(n: int) -> None:
        for _ in range(n):
            conn.request("POST", url.path, body, headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            problem = bodies.check_response(client, stream, response.status, text)
            if problem is not None:
                raise RuntimeError(f"{path}: {problem}")

    control = ["callgrind_control"]
    pid, label = str(target.child.pid), bodies.path_alias(path) + ("-stream" if stream else "-json")
    try:
        send(20)  # warm: connections, caches, the first stored rows
        subprocess.run([*control, "--instr=on", pid], check=True, capture_output=True)
        subprocess.run([*control, "--zero", pid], check=True, capture_output=True)
        send(requests)
        time.sleep(0.3)  # the stores' writer threads commit what these requests parked
        subprocess.run([*control, f"--dump={label}", pid], check=True, capture_output=True)
        subprocess.run([*control, "--instr=off", pid], check=True, capture_output=True)
    finally:
        conn.close()
    total = 0
    for dump in out_dir.glob("out.*"):
        text = dump.read_text(errors="replace")
        if f"Trigger: Client Request: {label}" in text[:4000] or f"dump {label}" in text[:4000]:
            total += sum(
                int(line.split()[1]) for line in text.splitlines() if line[:7] == "totals:"
            )
        dump.unlink()
    return total / requests / 1e6
