"""`make bench`: polyrelay (and optionally LiteLLM) against a fixed nginx upstream.

Starts nginx with the fixed bodies of bench/bodies.py, starts the gateway(s), checks every
path with fully parsed responses, then measures each path, stream and connection count with
wrk (whose Lua hook checks every body), reads CPU time and RSS from /proc, optionally holds
many slow streams through the emulator, and prints one table (bench/README.md explains it).
"""

from __future__ import annotations

import argparse
import compileall
import platform
import resource
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies
from bench.cpu import cpu_rounds, instruction_counts
from bench.latency import direct_p50, latency_rounds
from bench.load import check_pass, run_wrk, slow_streams
from bench.peers import Target, base_interpreter, start_litellm, start_polyrelay
from bench.procs import cpu_seconds, ensure_tools, rss_mb
from bench.report import Cell, Report, render
from bench.upstream import Upstream, emulator_config, start_emulator, start_nginx

# name -> (client protocol, upstream protocol)
PATHS: dict[str, tuple[str, str]] = {
    "chat→openai": ("chat", "openai"),
    "messages→anthropic": ("messages", "anthropic"),
    "messages→openai": ("messages", "openai"),
    "chat→anthropic": ("chat", "anthropic"),
    "responses→openai": ("responses", "openai"),
    "responses→openai-responses": ("responses", "openai-responses"),
    # The Responses API stores every response unless told not to; this is what the same
    # path costs without it (the CPU target's comparison with chat→openai, bench/README).
    "responses→openai" + bodies.UNSTORED: ("responses", "openai"),
    # A real client's request instead of the 80-byte ones (--real-bodies): what a Claude
    # Code or Codex turn costs relayed and translated (bodies.REAL_CLIENTS).
    "claude-code→anthropic": ("messages", "anthropic"),
    "claude-code→openai": ("messages", "openai"),
    "codex→openai-responses": ("responses", "openai-responses"),
    "codex→anthropic": ("responses", "anthropic"),
}
REAL_PATHS = [name for name in PATHS if name.split("→")[0] in bodies.REAL_CLIENTS]
_ALIASES = {bodies.path_alias(name): name for name in PATHS} | {n: n for n in PATHS}
RESULTS = Path(__file__).resolve().parent / "results"


def _whole_seconds(text: str) -> float:
    """wrk's `-d` takes whole seconds (`1.5s` is refused), so the runs' lengths must be."""
    seconds = float(text)
    if seconds < 1 or seconds != int(seconds):
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of seconds, 1 or more")
    return seconds


def _good(runs: list[float | None]) -> list[float]:
    return [run for run in runs if run is not None]


def _note_missing(
    report: Report, rounds: str, measured: Mapping[str, object], paths: list[str]
) -> None:
    """A cell none of whose rounds measured anything is a failure, not a blank line."""
    missing = [
        f"{path}/{kind}"
        for path in paths
        for kind in ("json", "stream")
        if f"{path}/{kind}" not in measured
    ]
    if missing:
        report.failures[rounds] = "no good run for " + ", ".join(missing)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument(
        "--paths",
        default=",".join(bodies.path_alias(n) for n in PATHS if n not in REAL_PATHS),
        help="comma-separated paths (default: all but the real clients'): " + ", ".join(_ALIASES),
    )
    real = ", ".join(bodies.path_alias(n) for n in REAL_PATHS)
    parser.add_argument("--real-bodies", action="store_true", help=f"also {real}")
    parser.add_argument("--connections", default="1,16,64", help="default: 1,16,64")
    parser.add_argument("--duration", type=_whole_seconds, default=5.0, help="seconds per wrk run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        metavar="N",
        help="interleaved rounds of the main table, the same for every gateway; a cell shows"
        " its round with the most req/s (default 3)",
    )
    parser.add_argument("--peer", choices=["litellm"], help="also measure this gateway")
    parser.add_argument(
        "--slow-streams", type=int, default=None, metavar="N", help="default 1000; 0 skips"
    )
    parser.add_argument("--workers", type=int, default=1, help="polyrelay worker processes")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="polyrelay's database, e.g. postgresql://... (default: a SQLite file of the run)",
    )
    parser.add_argument(
        "--check-requests",
        type=int,
        default=5,
        metavar="N",
        help="fully parsed requests per path before its wrk runs",
    )
    parser.add_argument(
        "--cpu-rounds",
        type=int,
        default=None,
        metavar="N",
        help="interleaved rounds of CPU per request at 16 connections and of p50 at 1"
        " connection (default 3; 0 skips)",
    )
    parser.add_argument(
        "--cpu-seconds", type=_whole_seconds, default=2.0, help="seconds per run of those rounds"
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count instructions per request under callgrind, N requests per cell",
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: 1 connection, 1 s")
    parser.add_argument("--no-install", action="store_true", help="never apt-get nginx/wrk")
    args = parser.parse_args(argv)
    try:
        args.paths = [_ALIASES[p.strip()] for p in args.paths.split(",") if p.strip()]
    except KeyError as exc:
        parser.error(f"unknown path {exc.args[0]!r}; choose from {', '.join(_ALIASES)}")
    if args.real_bodies:
        args.paths += [p for p in REAL_PATHS if p not in args.paths]
    args.connections = [int(c) for c in args.connections.split(",")]
    if args.quick:
        args.connections, args.duration = [1], 1.0
    if args.slow_streams is None:
        args.slow_streams = 0 if args.quick else 1000
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.cpu_rounds is None:
        args.cpu_rounds = 1 if args.quick else 3
    if args.quick:
        args.cpu_seconds = min(args.cpu_seconds, 1.0)
    return args


def measure(
    target: Target, path: str, args: argparse.Namespace, workdir: Path, report: Report
) -> None:
    """One round of a path's cells: a cell met again in a later round keeps its best."""
    client, upstream = PATHS[path]
    for stream in (False, True):
        body = bodies.path_request(path, client, target.model(upstream, stream, path), stream)
        url = target.url(client)
        problem = check_pass(url, body, client, stream, target.key, args.check_requests)
        for conns in args.connections:
            cell = report.find(target.name, path, stream, conns)
            if cell is None:
                cell = Cell(target.name, path, stream, conns)
                report.cells.append(cell)
            if problem:
                cell.fail(problem, 0, "")
                continue
            if not target.child.alive():
                cell.fail(f"{target.name} exited: {target.child.tail(5)}", 0, "")
                continue
            # The previous run's leftovers (the writer threads' batches, the usage store
            # gathers for 1 s; closing its connections) finish before this run and its
            # CPU count start: after a 64-connection run they used to slow the next
            # one-connection run.
            time.sleep(0.2 if args.quick else 1.5)
            cpu0 = cpu_seconds(target.child.pid)
            result = run_wrk(
                url,
                body,
                bodies.markers(client, stream),
                key=target.key,
                connections=conns,
                seconds=args.duration,
                workdir=workdir,
            )
            cpu = cpu_seconds(target.child.pid) - cpu0
            failure = result.failure
            if not failure and not result.ok:
                failure = f"no good response within {args.duration:g} s {result.sample}"
            if failure or result.errors:
                bad = failure or f"{result.errors} bad responses, e.g. {result.sample}"
                cell.fail(bad, result.errors, result.sample)
                continue
            cpu_ms = cpu * 1000 / result.requests
            cell.take(result.rps, result.p50_ms, result.p99_ms, cpu_ms, result.requests)
        kind = "stream" if stream else "json"
        last = report.find(target.name, path, stream, args.connections[-1])
        summary = ""
        if last is not None:
            summary = last.failure[:100] if last.failure else f"{last.rounds_rps[-1]:,.0f} req/s"
        print(f"  {target.name:9} {path:27} {kind:6} {summary}", flush=True)


def direct_baseline(
    upstream: Upstream, args: argparse.Namespace, workdir: Path, report: Report
) -> None:
    """nginx without a gateway, one connection: the floor for the p50 comparison."""
    for protocol in sorted({PATHS[p][1] for p in args.paths}):
        for stream in (False, True):
            p50 = direct_p50(upstream, protocol, stream, min(args.duration, 2.0), workdir)
            if p50 is not None:
                report.direct[f"{protocol}/{'stream' if stream else 'json'}"] = p50


def run_slow(workdir: Path, args: argparse.Namespace, report: Report) -> None:
    emulator, emulator_port = start_emulator(workdir, tokens_per_second=20)
    target = None
    try:
        config = emulator_config(emulator_port, workdir / "slow.db")
        target = start_polyrelay(None, workdir, args.workers, config_text=config)
        if target.start_seconds is None:
            report.failures["slow streams"] = f"polyrelay did not start: {target.start_error}"
            return
        result = slow_streams(target.url("chat"), target.key, args.slow_streams, target.child.pid)
        report.slow = {
            "streams": result.streams,
            "ok": result.ok,
            "errors": result.errors,
            "seconds": result.seconds,
            "peak_rss_mb": result.peak_rss_mb,
        }
        if result.errors:
            report.failures["slow streams"] = "; ".join(result.samples)
    finally:
        if target:
            target.child.stop()
        emulator.stop()


def precompile() -> None:
    """Write the bytecode caches a normal install has (pip compiles at install time). With
    PYTHONDONTWRITEBYTECODE=1 and `uv sync` (which does not compile by default), every start
    would compile aiohttp, uvicorn, starlette... from source: ~1.0 s instead of ~0.4 s to
    the first proxied 200 on the benchmark machine."""
    for tree in {
        sysconfig.get_paths()["purelib"],
        str(Path(__file__).resolve().parents[1] / "src"),
    }:
        compileall.compile_dir(tree, quiet=1, workers=0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    precompile()
    tools = ("nginx", "wrk", "valgrind") if args.instructions else ("nginx", "wrk")
    missing = ensure_tools(install=not args.no_install, tools=tools)
    if missing:
        print(
            f"bench: missing {', '.join(missing)}; apt-get install -y nginx-light wrk valgrind",
            file=sys.stderr,
        )
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    report = Report(settings={k: v for k, v in vars(args).items()})
    report.python = f"{platform.python_version()} ({base_interpreter()})"
    with tempfile.TemporaryDirectory(prefix="polyrelay-bench-") as tmp:
        workdir = Path(tmp)
        upstream = start_nginx(workdir)
        try:
            run_targets(upstream, workdir, args, report)
            if args.slow_streams:
                print(f"slow streams: {args.slow_streams} at 20 tokens/s ...", flush=True)
                run_slow(workdir, args, report)
        finally:
            upstream.child.stop()
    print()
    print(render(report, args.peer, {p: PATHS[p][1] for p in PATHS}))
    print(f"\nJSON: {report.write_json(RESULTS)}")
    return 0


def run_targets(
    upstream: Upstream, workdir: Path, args: argparse.Namespace, report: Report
) -> None:
    direct_baseline(upstream, args, workdir, report)
    report.rounds = args.rounds
    starters = [
        (
            "polyrelay",
            lambda: start_polyrelay(upstream, workdir, args.workers, database=args.database),
        )
    ]
    if args.peer == "litellm":
        starters.append(("litellm", lambda: start_litellm(upstream, workdir)))
    for name, start in starters:
        print(f"starting {name} ...", flush=True)
        try:
            target = start()
        except Exception as exc:  # a peer that cannot install or start is a reported failure
            report.failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        try:
            report.start_seconds[name] = target.start_seconds
            if target.start_seconds is None:
                report.failures[name] = f"did not start: {target.start_error}"
                continue
            for round_number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"  round {round_number} of {args.rounds}", flush=True)
                for path in args.paths:
                    measure(target, path, args, workdir, report)
            report.rss_mb[name], report.processes[name] = rss_mb(target.child.pid)
            if name == "polyrelay" and args.cpu_rounds:
                print(f"CPU per request: {args.cpu_rounds} interleaved rounds ...", flush=True)
                report.cpu_connections, report.cpu_rounds = _CPU_CONNECTIONS, args.cpu_rounds
                report.cpu_each = cpu_rounds(
                    target,
                    _cells(args.paths),
                    rounds=args.cpu_rounds,
                    seconds=args.cpu_seconds,
                    connections=_CPU_CONNECTIONS,
                    workdir=workdir,
                )
                print(f"p50 at 1 connection: {args.cpu_rounds} interleaved rounds ...")
                report.latency_rounds = latency_rounds(
                    target,
                    upstream,
                    _cells(args.paths),
                    rounds=args.cpu_rounds,
                    seconds=args.cpu_seconds,
                    workdir=workdir,
                )
                report.cpu_min = {
                    key: min(good) for key, runs in report.cpu_each.items() if (good := _good(runs))
                }
                _note_missing(report, "CPU rounds", report.cpu_min, args.paths)
                _note_missing(report, "p50 rounds", report.latency_rounds, args.paths)
        finally:
            target.child.stop()
    if args.instructions:
        print(f"instructions: {args.instructions} requests per cell under callgrind ...")
        try:
            report.instructions = instruction_counts(
                upstream, _cells(args.paths), requests=args.instructions, workdir=workdir
            )
        except Exception as exc:  # reported, the rest of the run stands
            report.failures["instructions"] = f"{type(exc).__name__}: {exc}"


_CPU_CONNECTIONS = 16


def _cells(paths: list[str]) -> list[tuple[str, str, str, bool]]:
    return [(p, *PATHS[p], stream) for p in paths for stream in (False, True)]


if __name__ == "__main__":
    sys.exit(main())
