"""The benchmark's CI smoke run (`bench/run.py --quick`): nginx upstream, the gateway, wrk
with body checks, a few slow streams, the interleaved CPU rounds. It proves the benchmark
works end to end on every path; no figure is asserted (timings are not tests), only that
every cell measured good responses and nothing failed, in one run with the LiteLLM peer.
nginx and wrk come from apt (the bench installs them when missing and it may; `.ci/run`
installs them up front); LiteLLM from the package registry, into a bench/.peer-venv-* venv."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.run import PATHS as BENCH_PATHS

ROOT = Path(__file__).resolve().parents[2]
PATHS = len(BENCH_PATHS)


def _quick_run(*args: str) -> tuple[str, dict[str, Any]]:
    """`bench/run.py --quick ARGS`: its printed report, and the JSON one it wrote."""
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"^JSON: (.+)$", done.stdout, re.MULTILINE)
    assert found, done.stdout[-3000:]
    return done.stdout, json.loads(Path(found.group(1)).read_text())


def test_quick_benchmark_measures_every_path_and_the_litellm_peer() -> None:
    """One quick run with `--peer litellm` (a run of its own without the peer took as
    long again, a quarter of the suite). polyrelay: every cell measured good responses,
    with the slow streams, CPU rounds and start time. LiteLLM, installed into a
    bench/.peer-venv-* venv (never a dependency of the project) and measured on the same
    upstream in the same run: every cell good but responses→openai (its Responses bridge
    needs a Responses upstream), reported as failed with and without store; and the
    polyrelay/LiteLLM ratios printed. `--real-bodies` adds the paths that send a real
    Claude Code and Codex turn (bench/bodies.REAL_CLIENTS), each translated path's CPU
    compared with its own client's fast path."""
    stdout, report = _quick_run("--peer", "litellm", "--slow-streams", "20", "--real-bodies")
    cells = [c for c in report["cells"] if c["target"] == "polyrelay"]
    assert len(cells) == PATHS * 2, cells  # json and stream, one connection count
    for cell in cells:
        assert not cell["failure"] and cell["errors"] == 0, cell
        assert cell["requests"] > 0 and cell["cpu_ms_per_req"] > 0, cell
    assert len(report["direct"]) == 6  # nginx direct: three upstream protocols x 2 kinds
    assert report["slow"]["ok"] == report["slow"]["streams"] == 20, report["slow"]
    assert len(report["cpu_min"]) == PATHS * 2, report["cpu_min"]
    assert report["start_seconds"]["polyrelay"] is not None
    assert "translated CPU/request" in stdout
    assert re.search(r"claude-code→openai +json .*x claude-code→anthropic \(same client\)", stdout)
    assert not report["failures"], report["failures"]
    peer = {(c["path"], c["stream"]): c for c in report["cells"] if c["target"] == "litellm"}
    assert len(peer) == PATHS * 2, sorted(peer)
    for (path, _), cell in peer.items():
        if BENCH_PATHS[path] == ("responses", "openai"):
            assert cell["failure"], cell
            continue
        assert not cell["failure"] and cell["errors"] == 0 and cell["requests"] > 0, cell
    assert report["start_seconds"]["litellm"] is not None
    assert report["rss_mb"]["litellm"] > 0
    assert re.search(r"^polyrelay/litellm throughput: min [\d.]+x", stdout, re.MULTILINE)
