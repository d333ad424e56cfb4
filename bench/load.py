"""Load generators: wrk runs with a body-checking Lua hook, a Python check pass, slow streams.

wrk's `response(status, headers, body)` hook runs in every thread and counts responses that
are not 200 or whose body lacks one of the expected markers; `done()` gathers the threads'
counters with `thread:get` and prints one `BENCH key=value ...` line that `run_wrk` parses.
The hook costs wrk some CPU, which matters only for the direct nginx baseline (the gateway is
the bottleneck everywhere else); the numbers stay comparable because every run pays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import bodies
from bench.procs import rss_mb

__all__ = ["SlowResult", "WrkResult", "check_pass", "post", "run_wrk", "slow_streams"]

_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["anthropic-version"] = "2023-06-01"
local markers = {{ {markers} }}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0; bad_status = 0; bad_body = 0; sample = ""
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    if sample == "" then sample = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 200) end
    return
  end
  for _, m in ipairs(markers) do
    if body == nil or not string.find(body, m, 1, true) then
      bad_body = bad_body + 1
      if sample == "" then sample = "no " .. m .. " in: " .. string.sub(body or "", 1, 200) end
      return
    end
  end
  ok = ok + 1
end

function done(summary, latency, requests)
  local ok_n, status_n, body_n, first = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok_n = ok_n + t:get("ok")
    status_n = status_n + t:get("bad_status")
    body_n = body_n + t:get("bad_body")
    if first == "" then first = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d ok=%d bad_status=%d bad_body=%d socket_errors=%d "
    .. "p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, ok_n, status_n, body_n,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
  io.write("BENCH_SAMPLE " .. string.gsub(first, "[\\r\\n]", " ") .. "\\n")
end
"""


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    ok: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    sample: str = ""
    failure: str = ""
    """Why the run produced no numbers (wrk missing or crashed)."""

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(
    url: str,
    body: bytes,
    expect: tuple[str, ...],
    *,
    key: str,
    connections: int,
    seconds: float,
    workdir: Path,
) -> WrkResult:
    """One bounded wrk run (`-d seconds`, killed after seconds + 30)."""
    script = workdir / f"wrk-{connections}-{abs(hash((url, body))) % 10**8}.lua"
    markers = ", ".join(_lua_string(m) for m in expect)
    script.write_text(_LUA.format(body=body.decode(), key=key, markers=markers))
    threads = max(1, min(connections, 2))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
    argv += ["--timeout", "10s", "-s", str(script), url]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return WrkResult(failure=f"wrk failed: {exc}")
    return _parse_wrk(done.stdout, done.stderr)


def _parse_wrk(stdout: str, stderr: str) -> WrkResult:
    result = WrkResult()
    for line in stdout.splitlines():
        if line.startswith("BENCH_SAMPLE "):
            result.sample = line[len("BENCH_SAMPLE ") :].strip()
        elif line.startswith("BENCH "):
            values = dict(item.split("=", 1) for item in line.split()[1:])
            result.requests = int(values["requests"])
            result.seconds = int(values["duration_us"]) / 1e6
            result.ok = int(values["ok"])
            result.errors = (
                int(values["bad_status"]) + int(values["bad_body"]) + int(values["socket_errors"])
            )
            result.p50_ms = int(values["p50_us"]) / 1000
            result.p99_ms = int(values["p99_us"]) / 1000
    if not result.seconds:
        result.failure = f"wrk printed no result: {(stderr or stdout)[-300:]}"
    return result


def post(url: str, body: bytes, key: str, timeout: float = 10.0) -> tuple[int, str]:
    """One POST with the standard library; (status, body), or (0, the error)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {key}",
        "anthropic-version": "2023-06-01",
    }
    try:
        conn.request("POST", parts.path, body, headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def check_pass(
    url: str, body: bytes, protocol: str, stream: bool, key: str, count: int
) -> str | None:
    """Fully parse `count` responses; the first problem found, or None when all are good."""
    for _ in range(count):
        status, text = post(url, body, key)
        problem = bodies.check_response(protocol, stream, status, text)
        if problem:
            return problem
    return None


@dataclass
class SlowResult:
    streams: int
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    samples: list[str] = field(default_factory=list)


async def _one_slow(session: Any, url: str, body: bytes, result: SlowResult) -> None:
    try:
        async with session.post(url, data=body) as response:
            text = await response.text()
        status = response.status
    except Exception as exc:
        status, text = 0, f"{type(exc).__name__}: {exc}"
    words = len("".join(_chat_deltas(text)).split()) if status == 200 else 0
    if status == 200 and text.rstrip().endswith("data: [DONE]") and words >= 20:
        result.ok += 1
        return
    result.errors += 1
    if len(result.samples) < 3:
        result.samples.append(f"HTTP {status}: {text[:200]}")


def _chat_deltas(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: {"):
            with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                choices = json.loads(line[6:])["choices"]
                out.append(choices[0]["delta"].get("content") or "" if choices else "")
    return out


async def _slow(url: str, key: str, streams: int, pid: int, timeout: float) -> SlowResult:
    import aiohttp

    result = SlowResult(streams)
    prompt = "[[words 40]] hold this stream open"
    body = bodies.client_request("chat", "bench-slow", True).replace(
        bodies.PROMPT.encode(), prompt.encode()
    )
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=client_timeout
    ) as session:
        started = time.monotonic()
        tasks = [asyncio.create_task(_one_slow(session, url, body, result)) for _ in range(streams)]
        while not all(t.done() for t in tasks):
            result.peak_rss_mb = max(result.peak_rss_mb, rss_mb(pid)[0])
            await asyncio.wait(tasks, timeout=0.25)
        result.seconds = time.monotonic() - started
    return result


def slow_streams(url: str, key: str, streams: int, pid: int, timeout: float = 60) -> SlowResult:
    """`streams` concurrent streamed chat requests, each ~40 words at the emulator's pace."""
    return asyncio.run(_slow(url, key, streams, pid, timeout))
