"""Latency floor: a raw-ASGI proxy on uvicorn (uvloop+httptools) with one aiohttp
ClientSession ("aiohttp"), the same proxy with polyrelay's own HTTP/1.1 client ("lean"),
nginx direct and polyrelay chat→openai, at 1 wrk connection, targets alternated over
rounds.

`uv run --locked python bench/floor.py [--seconds 5] [--rounds 3]`"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bodies
from bench.load import check_pass, run_wrk
from bench.peers import start_polyrelay
from bench.procs import Child, cpu_seconds, free_port, wait_port
from bench.upstream import start_nginx

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Run = tuple[float, float, int, int]  # p50 ms, CPU seconds, requests, errors
KINDS = ("json", "stream")
STACKS = ("aiohttp", "lean")


App = Callable[[Message, Receive, Send], Awaitable[None]]
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-upstream"}


async def read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    return body


async def not_found(scope: Message, send: Send) -> bool:
    if scope["method"] == "POST" and scope["path"] == "/v1/chat/completions":
        return False
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})
    return True


async def relay(send: Send, status: int, stream: bool, chunks: AsyncIterator[bytes]) -> None:
    if not stream:
        data = b"".join([chunk async for chunk in chunks])
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def lean_app(json_url: str, sse_url: str) -> App:
    """The minimal proxy on polyrelay's HTTP/1.1 client."""
    from polyrelay.providers.http1 import Http1Client

    client: list[Http1Client] = []  # made on first use, inside the server's loop

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or await not_found(scope, send):
            return
        body = await read_body(receive)
        stream = json.loads(body).get("stream") is True
        if not client:
            client.append(Http1Client())
        url = sse_url if stream else json_url
        resp = await client[0].request(
            "POST", url, HEADERS, body, connect_timeout=10, read_timeout=600
        )
        await relay(send, resp.status, stream, resp.chunks())

    return app


def proxy_app(json_url: str, sse_url: str) -> App:
    """The minimal proxy: read the body, POST it to the JSON or SSE URL, relay the answer."""
    import aiohttp

    session: list[aiohttp.ClientSession] = []  # made on first use, inside the server's loop

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or await not_found(scope, send):
            return
        body = await read_body(receive)
        stream = json.loads(body).get("stream") is True
        if not session:  # the settings polyrelay's UpstreamClient had with aiohttp
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            skip = ("User-Agent",)  # auto_decompress=True is the default, as there
            session.append(aiohttp.ClientSession(connector=connector, skip_auto_headers=skip))
        url = sse_url if stream else json_url
        async with session[0].post(url, data=body, headers=HEADERS) as resp:
            await relay(send, resp.status, stream, resp.content.iter_any())

    return app


def serve(port: int, json_url: str, sse_url: str, stack: str) -> None:
    import uvicorn

    app = (lean_app if stack == "lean" else proxy_app)(json_url, sse_url)
    common: dict[str, Any] = {"loop": "uvloop", "http": "httptools", "log_level": "warning"}
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, lifespan="off", **common)


def measure(seconds: float, rounds: int, workdir: Path) -> dict[tuple[str, str], list[Run]]:
    upstream = start_nginx(workdir)
    children: list[Child] = [upstream.child]
    try:
        urls = [upstream.url("openai", False), upstream.url("openai", True)]  # polyrelay's too
        proxies: dict[str, tuple[int, Child]] = {}
        for stack in STACKS:
            port = free_port()
            argv = [sys.executable, __file__, "--serve", str(port), *urls, stack]
            children.append(proxy := Child(f"floor-{stack}", argv, workdir / f"{stack}.log"))
            if not wait_port(port, 20):
                raise RuntimeError(f"the minimal {stack} proxy did not start:\n{proxy.tail()}")
            proxies[stack] = (port, proxy)
        relay = start_polyrelay(upstream, workdir)
        children.append(relay.child)
        if relay.start_seconds is None:
            raise RuntimeError(f"polyrelay did not start: {relay.start_error}")
        models = [relay.model("openai", False), relay.model("openai", True)]
        # name -> (URL per kind, model per kind, key, pid whose CPU is counted)
        targets: dict[str, tuple[list[str], list[str], str, int | None]] = {
            "direct": (urls, ["x", "x"], "sk-direct", None)
        }
        for stack, (port, proxy) in proxies.items():
            minimal = f"http://127.0.0.1:{port}/v1/chat/completions"
            targets[stack] = ([minimal, minimal], models, "sk-none", proxy.pid)
        targets["polyrelay"] = ([relay.url("chat")] * 2, models, relay.key, relay.child.pid)
        for name, (url_of, model_of, key, _) in targets.items():  # a few fully parsed first
            for i, kind in enumerate(KINDS):
                body = bodies.client_request("chat", model_of[i], kind == "stream")
                if problem := check_pass(url_of[i], body, "chat", kind == "stream", key, 3):
                    raise RuntimeError(f"{name} {kind}: {problem}")
        runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
        wrk = functools.partial(run_wrk, connections=1, seconds=seconds, workdir=workdir)
        for r in range(rounds):
            turn = r % len(targets)
            order = list(targets)[turn:] + list(targets)[:turn]  # rotate who goes first
            for i, kind in enumerate(KINDS):
                for name in order:
                    url_of, model_of, key, pid = targets[name]
                    body = bodies.client_request("chat", model_of[i], kind == "stream")
                    cpu0 = cpu_seconds(pid) if pid else 0.0
                    res = wrk(url_of[i], body, bodies.markers("chat", kind == "stream"), key=key)
                    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
                    if res.failure:
                        raise RuntimeError(f"{name} {kind}: {res.failure}")
                    if res.errors:
                        print(f"  {name} {kind}: {res.errors} errors, e.g. {res.sample}")
                    runs[name, kind].append((res.p50_ms, cpu, res.requests, res.errors))
            print(f"round {r + 1}/{rounds} done", flush=True)
        return runs
    finally:
        for child in reversed(children):
            child.stop()


def report(runs: dict[tuple[str, str], list[Run]], rounds: int) -> int:
    head = " ".join(f"{'r' + str(r + 1):>6}" for r in range(rounds))
    print(f"\n{'target':10} {'kind':6} {head} {'median':>7} {'-direct':>8} {'CPU ms/req':>10}")
    errors = 0
    for kind in KINDS:
        direct = statistics.median(run[0] for run in runs["direct", kind])
        for name in ("direct", *STACKS, "polyrelay"):
            cell = runs[name, kind]
            med = statistics.median(run[0] for run in cell)
            cpu, requests = sum(run[1] for run in cell), sum(run[2] for run in cell)
            errors += sum(run[3] for run in cell)
            per_req = f"{cpu * 1000 / requests:.3f}" if name != "direct" and requests else "-"
            cols = " ".join(f"{run[0]:6.3f}" for run in cell)
            print(f"{name:10} {kind:6} {cols} {med:7.3f} {med - direct:+8.3f} {per_req:>10}")
    print(f"\np50 ms at 1 connection; errors (non-200, bad body, socket): {errors}")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/floor.py", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="default 3")
    parser.add_argument("--serve", nargs=4, metavar=("PORT", "JSON_URL", "SSE_URL", "STACK"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2], args.serve[3])
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the children
    with tempfile.TemporaryDirectory(prefix="polyrelay-floor-") as tmp:
        runs = measure(args.seconds, args.rounds, Path(tmp))
    return report(runs, args.rounds)


if __name__ == "__main__":
    sys.exit(main())
