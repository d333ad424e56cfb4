"""The result model of a run, its one printed table, and the JSON file in bench/results/."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import bodies

__all__ = ["Cell", "Report"]


@dataclass
class Cell:
    """One (target, path, stream, connections) measurement, or why there is none."""

    target: str
    path: str
    stream: bool
    connections: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_req: float = 0.0
    requests: int = 0
    errors: int = 0
    failure: str = ""
    sample: str = ""
    rounds_rps: list[float] = field(default_factory=list)
    """req/s of every round, in order (0 for a run that went wrong)."""

    def take(self, rps: float, p50: float, p99: float, cpu_ms: float, requests: int) -> None:
        """One round's good run: the cell keeps the round with the most req/s, whole (its
        latencies and CPU with it), and every round's req/s."""
        self.rounds_rps.append(rps)
        if rps > self.rps:
            self.rps, self.p50_ms, self.p99_ms = rps, p50, p99
            self.cpu_ms_per_req, self.requests = cpu_ms, requests

    def fail(self, failure: str, errors: int, sample: str) -> None:
        """One round went wrong: the cell is failed whatever its other rounds did (a best
        round must not hide an error), with the first failure's reason."""
        self.rounds_rps.append(0.0)
        self.errors += errors
        self.failure = self.failure or failure
        self.sample = self.sample or sample


@dataclass
class Report:
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    settings: dict[str, object] = field(default_factory=dict)
    python: str = ""
    """The interpreter both gateways ran on: version and path (its build matters)."""
    cells: list[Cell] = field(default_factory=list)
    rounds: int = 1
    """Interleaved rounds of the main table; a cell shows its best one."""
    direct: dict[str, float] = field(default_factory=dict)
    """`<upstream protocol>/<stream|json>` -> nginx p50 ms at one connection."""
    rss_mb: dict[str, float] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)
    start_seconds: dict[str, float | None] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    """Problems that are not one cell's: a target that did not start, the slow streams."""
    slow: dict[str, object] = field(default_factory=dict)
    cpu_min: dict[str, float] = field(default_factory=dict)
    """`<path>/<stream|json>` -> polyrelay's least disturbed CPU ms/request (bench/cpu.py)."""
    cpu_each: dict[str, list[float | None]] = field(default_factory=dict)
    """`<path>/<stream|json>` -> CPU ms/request in each interleaved round (None: bad run)."""
    cpu_connections: int = 0
    cpu_rounds: int = 0
    instructions: dict[str, float] = field(default_factory=dict)
    """`<path>/<stream|json>` -> millions of instructions per request (callgrind)."""
    latency_rounds: dict[str, list[float]] = field(default_factory=dict)
    """`<path>/<stream|json>` -> p50 minus nginx's p50 at one connection, per round."""

    def find(self, target: str, path: str, stream: bool, connections: int) -> Cell | None:
        for cell in self.cells:
            key = (cell.target, cell.path, cell.stream, cell.connections)
            if key == (target, path, stream, connections):
                return cell
        return None

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.started.replace(':', '')}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def _num(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _row(report: Report, cell: Cell, peer: str | None, direct_p50: float | None) -> list[str]:
    kind = "stream" if cell.stream else "json"
    head = [cell.path, kind, str(cell.connections)]
    if cell.failure:
        row = [*head, "FAILED", "", "", "", ""]
    else:
        row = [
            *head,
            _num(cell.rps, 0),
            _num(cell.p50_ms, 2),
            _num(cell.p99_ms, 2),
            _num(cell.cpu_ms_per_req, 2),
            str(cell.errors),
        ]
    delta = ""
    if direct_p50 is not None and cell.connections == 1 and not cell.failure:
        delta = f"{cell.p50_ms - direct_p50:+.2f}"
    row.append(delta)
    if peer:
        other = report.find(peer, cell.path, cell.stream, cell.connections)
        if other is None or other.failure:
            row += ["n/a", "", "", "n/a"]
        else:
            ratio = cell.rps / other.rps if other.rps and not cell.failure else 0.0
            row += [
                _num(other.rps, 0),
                _num(other.p50_ms, 2),
                _num(other.cpu_ms_per_req, 2),
                f"{ratio:.1f}x" if ratio else "-",
            ]
    return row


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(report: Report, peer: str | None, direct_key: dict[str, str]) -> str:
    """The table, then the per-target lines and the failures; `direct_key` maps a path name
    to its `Report.direct` key."""
    header = ["path", "kind", "conns", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "errors"]
    header.append("p50-direct")
    if peer:
        header += [f"{peer} req/s", f"{peer} p50", f"{peer} CPU", "ratio"]
    rows = [header]
    for cell in report.cells:
        if cell.target == "polyrelay":
            direct = report.direct.get(
                f"{direct_key[cell.path]}/{'stream' if cell.stream else 'json'}"
            )
            rows.append(_row(report, cell, peer, direct))
    out = [_table(rows), ""]
    if report.rounds > 1:
        out += [
            f"Each cell: the round with the most req/s of {report.rounds} interleaved rounds,"
            " for every gateway alike (every round's req/s: the JSON).",
            "",
        ]
    if report.python:
        out.append(f"Python {report.python}, for every gateway")
    for target, rss in report.rss_mb.items():
        procs = report.processes.get(target, 1)
        start = report.start_seconds.get(target)
        start_text = f"{start * 1000:.0f} ms" if start is not None else "never"
        out.append(
            f"{target}: RSS after load {rss:.1f} MB ({procs} process{'es' if procs > 1 else ''}),"
            f" first proxied 200 after {start_text}"
        )
    if report.slow:
        s = report.slow
        out.append(
            f"slow streams: {s['ok']}/{s['streams']} ok, {s['errors']} errors,"
            f" peak RSS {s['peak_rss_mb']:.1f} MB, {s['seconds']:.1f} s"
        )
    out += _summary(report, peer)
    out += _latency_section(report.latency_rounds, list(direct_key))
    out += _cpu_sections(report, direct_key)
    failed = [c for c in report.cells if c.failure or c.errors]
    if failed or report.failures:
        out += ["", "Failures:"]
        seen: set[tuple[str, str, bool]] = set()
        for cell in failed:
            key = (cell.target, cell.path, cell.stream)
            if key in seen:
                continue
            seen.add(key)
            kind = "stream" if cell.stream else "json"
            why = cell.failure or f"{cell.errors} bad responses, e.g. {cell.sample}"
            out.append(f"  {cell.target} {cell.path} {kind}: {why[:400]}")
        out += [f"  {name}: {why[:600]}" for name, why in report.failures.items()]
    return "\n".join(out)


_FAST_BY_CLIENT = {
    "chat": "chat→openai",
    "messages": "messages→anthropic",
    "responses": "responses→openai-responses",
    "claude-code": "claude-code→anthropic",
    "codex": "codex→openai-responses",
}
"""The same-protocol relay (fast path) that serves each client protocol."""
_FAST = frozenset(_FAST_BY_CLIENT.values())
_FAST_BY_UPSTREAM = {
    "openai": "chat→openai",
    "anthropic": "messages→anthropic",
    "openai-responses": "responses→openai-responses",
}
"""The fast path that reads each upstream protocol."""


def _baselines(path: str, upstream_of: dict[str, str]) -> tuple[str, str | None]:
    """A translated path's two fast paths: its client protocol's (what translating costs
    that client over relaying) and its upstream protocol's (the same upstream stream
    parsed, only the client side differs). A real client's path has the first only: the
    other fast paths send other bodies."""
    client = path.split("→")[0]
    upstream = _FAST_BY_UPSTREAM.get(upstream_of.get(path, ""), "chat→openai")
    same_body = client not in bodies.REAL_CLIENTS
    return _FAST_BY_CLIENT.get(client, "chat→openai"), upstream if same_body else None


Multiple = Callable[[str, str], float | None]
"""(cell, baseline cell) -> the cell's figure as a multiple of the baseline's, if known."""


def _quotient(figures: dict[str, float]) -> Multiple:
    def multiple(key: str, base: str) -> float | None:
        baseline = figures.get(base)
        return figures[key] / baseline if baseline else None

    return multiple


def _paired(each: dict[str, list[float | None]]) -> Multiple:
    """The median over rounds of the two cells' quotient in the same round."""

    def multiple(key: str, base: str) -> float | None:
        pairs = zip(each.get(key, []), each.get(base, []), strict=False)
        quotients = [value / baseline for value, baseline in pairs if value and baseline]
        return statistics.median(quotients) if quotients else None

    return multiple


def _ratio_lines(
    figures: dict[str, float],
    upstream_of: dict[str, str],
    unit: str,
    digits: int,
    multiple: Multiple,
) -> list[str]:
    """One line per path and kind: the figure and its multiples of both baselines'."""
    lines = []
    for key in sorted(figures, key=lambda k: (list(upstream_of).index(k.split("/")[0]), k)):
        path, kind = key.split("/")
        line = f"  {path:27} {kind:6} {figures[key]:.{digits}f} {unit}"
        if path not in _FAST:
            for base, side in zip(
                _baselines(path, upstream_of), ("client", "upstream"), strict=True
            ):
                ratio = multiple(key, f"{base}/{kind}") if base else None
                if ratio:
                    line += f"  {ratio:.2f}x {base} (same {side})"
        lines.append(line)
    return lines


def _worst(
    figures: dict[str, float], upstream_of: dict[str, str], multiple: Multiple
) -> str | None:
    worst: list[str] = []
    for side in (0, 1):
        ratios = []
        for key in figures:
            path, kind = key.split("/")
            base = _baselines(path, upstream_of)[side]
            ratio = multiple(key, f"{base}/{kind}") if base and path not in _FAST else None
            if ratio:
                ratios.append((ratio, path, kind, base))
        if ratios:
            ratio, path, kind, base = max(ratios)
            name = ("client", "upstream")[side]
            worst.append(f"vs the same {name}'s fast path {ratio:.2f}x ({path} {kind} vs {base})")
    return "worst " + "; ".join(worst) if worst else None


def _latency_section(rounds: dict[str, list[float]], paths: list[str]) -> list[str]:
    if not rounds:
        return []
    out = ["", "p50 over nginx direct at one connection, median of interleaved rounds (ms):"]
    medians = {}
    for key in sorted(rounds, key=lambda k: (paths.index(k.split("/")[0]), k)):
        path, kind = key.split("/")
        medians[key] = statistics.median(rounds[key])
        each = ", ".join(f"{value:+.2f}" for value in rounds[key])
        out.append(f"  {path:27} {kind:6} {medians[key]:+.2f}  (rounds: {each})")
    worst = max(medians, key=lambda k: medians[k])
    within = sum(value <= 0.5 for value in medians.values())
    out.append(
        f"p50 over direct: {within}/{len(medians)} cells within 0.5 ms,"
        f" worst {medians[worst]:+.2f} ({worst.replace('/', ' ')})"
    )
    return out


def _cpu_sections(report: Report, upstream_of: dict[str, str]) -> list[str]:
    out: list[str] = []
    if report.cpu_min:
        paired = _paired(report.cpu_each) if report.cpu_each else _quotient(report.cpu_min)
        out += [
            "",
            f"CPU per request, least disturbed of {report.cpu_rounds} interleaved runs at"
            f" {report.cpu_connections} connections (x the fast path of the same client"
            " protocol, and of the same upstream protocol: the median of the multiples"
            " within each round):",
            *_ratio_lines(report.cpu_min, upstream_of, "ms", 3, paired),
        ]
        worst = _worst(report.cpu_min, upstream_of, paired)
        out += [f"translated CPU/request: {worst}"] if worst else []
    if report.instructions:
        quotient = _quotient(report.instructions)
        out += [
            "",
            "Instructions per request (callgrind, sequential requests; no kernel time):",
            *_ratio_lines(report.instructions, upstream_of, "M", 2, quotient),
        ]
        worst = _worst(report.instructions, upstream_of, quotient)
        out += [f"translated instructions/request: {worst}"] if worst else []
    return out


def _summary(report: Report, peer: str | None) -> list[str]:
    ours = [c for c in report.cells if c.target == "polyrelay" and not c.failure]
    lines: list[str] = []
    if peer:
        ratios = []
        for cell in ours:
            other = report.find(peer, cell.path, cell.stream, cell.connections)
            if other and not other.failure and other.rps:
                ratios.append(cell.rps / other.rps)
        if ratios:
            lines.append(
                f"polyrelay/{peer} throughput: min {min(ratios):.1f}x, max {max(ratios):.1f}x"
                f" over {len(ratios)} cells"
            )
    return lines
