"""p50 over nginx direct at one connection, in interleaved rounds.

One wrk run per cell moves by 0.1 to 0.3 ms between runs on this shared 2-core VM, as much
as the target itself (0.5 ms), and the machine's state drifts within seconds. So every
gateway run at one connection is paired with an nginx-direct run of the same body just
before it, and, as for CPU time, the cells are interleaved in rounds. A cell's figure is
the median over the rounds of its p50 minus its paired nginx p50: the median, not the
minimum, because a latency target is about the usual request.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from bench import bodies
from bench.load import run_wrk
from bench.peers import Target
from bench.upstream import Upstream

__all__ = ["CLIENT_OF", "direct_p50", "latency_rounds"]

CLIENT_OF = {"openai": "chat", "anthropic": "messages", "openai-responses": "responses"}
"""The client protocol whose body nginx's location for an upstream protocol answers."""


def direct_p50(
    upstream: Upstream, protocol: str, stream: bool, seconds: float, workdir: Path
) -> float | None:
    """nginx without a gateway at one connection; None when the run went wrong."""
    client = CLIENT_OF[protocol]
    result = run_wrk(
        upstream.url(protocol, stream),
        bodies.client_request(client, "x", stream),
        bodies.markers(client, stream),
        key="sk-direct",
        connections=1,
        seconds=seconds,
        workdir=workdir,
    )
    return None if result.failure or result.errors else result.p50_ms


def latency_rounds(
    target: Target,
    upstream: Upstream,
    cells: Iterable[tuple[str, str, str, bool]],
    *,
    rounds: int,
    seconds: float,
    workdir: Path,
) -> dict[str, list[float]]:
    """`path/kind` -> p50 minus nginx's p50, one figure per good round."""
    cells = list(cells)
    over: dict[str, list[float]] = defaultdict(list)
    time.sleep(seconds)  # let the writer threads finish what the load before left them
    for _ in range(rounds):
        for path, client, protocol, stream in cells:
            floor = direct_p50(upstream, protocol, stream, seconds, workdir)
            result = run_wrk(
                target.url(client),
                bodies.path_request(path, client, target.model(protocol, stream, path), stream),
                bodies.markers(client, stream),
                key=target.key,
                connections=1,
                seconds=seconds,
                workdir=workdir,
            )
            if floor is not None and not result.failure and not result.errors:
                over[f"{path}/{'stream' if stream else 'json'}"].append(result.p50_ms - floor)
    return dict(over)
