"""Profile the gateway on one path: nginx upstream, one polyrelay, wrk load, py-spy recording.

    uv run --locked python bench/profile.py --path responses-openai --stream --seconds 10
    uv run --locked python bench/profile.py --path chat-openai --stream --format raw

Writes bench/results/profile-<path>-<kind>.<ext> (py-spy's `raw` collapsed stacks by
default, `speedscope` or `flamegraph` on request) and prints the busiest functions of the
raw profile. py-spy is a dev dependency; it needs ptrace rights over the gateway process
(it runs as the same user here, so no sudo is needed in a container running as root).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies
from bench.load import run_wrk
from bench.peers import start_polyrelay
from bench.run import _ALIASES, PATHS, RESULTS
from bench.upstream import start_nginx


def _top(raw: Path, limit: int) -> str:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [f"{samples} samples; self% / total% per function"]
    for name, count in own.most_common(limit):
        rows.append(f"  {100 * count / samples:5.1f} {100 * total[name] / samples:5.1f}  {name}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/profile.py", description=__doc__)
    parser.add_argument("--path", default="chat-openai", help=", ".join(_ALIASES))
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--format", default="raw", choices=["raw", "speedscope", "flamegraph"])
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    path = _ALIASES[args.path]
    client, upstream_protocol = PATHS[path]
    kind = "stream" if args.stream else "json"
    RESULTS.mkdir(exist_ok=True)
    ext = {"raw": "txt", "speedscope": "json", "flamegraph": "svg"}[args.format]
    out = RESULTS / f"profile-{args.path.replace('→', '-')}-{kind}.{ext}"
    with tempfile.TemporaryDirectory(prefix="polyrelay-profile-") as tmp:
        workdir = Path(tmp)
        upstream = start_nginx(workdir)
        target = start_polyrelay(upstream, workdir)
        try:
            if target.start_seconds is None:
                print(f"polyrelay did not start: {target.start_error}", file=sys.stderr)
                return 1
            model = target.model(upstream_protocol, args.stream)
            body = bodies.path_request(path, client, model, args.stream)
            spy = subprocess.Popen(
                [
                    sys.executable.rsplit("/", 1)[0] + "/py-spy",
                    "record",
                    "--nonblocking",
                    "-p",
                    str(target.child.pid),
                    "-d",
                    f"{int(args.seconds) + 1}",
                    "-r",
                    "250",
                    "-f",
                    args.format,
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
            )
            result = run_wrk(
                target.url(client),
                body,
                bodies.markers(client, args.stream),
                key=target.key,
                connections=args.connections,
                seconds=args.seconds,
                workdir=workdir,
            )
            spy.wait(timeout=args.seconds + 60)
            print(f"{path} {kind}: {result.rps:,.0f} req/s, errors {result.errors}")
        finally:
            target.child.stop()
            upstream.child.stop()
    print(f"profile: {out}")
    if args.format == "raw":
        print(_top(out, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
