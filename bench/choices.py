"""The library choices of the hot path, measured: upstream HTTP client and JSON library.

    uv run --locked python bench/choices.py [--requests 3000] [--rounds 3]

1. Upstream client: aiohttp (ClientSession) vs httpx (AsyncClient) vs polyrelay's own
   HTTP/1.1 client (providers/http1/), each with one pooled keep-alive connection, on
   uvloop, POSTing the chat request to the benchmark's nginx and reading the JSON answer,
   then the 31-chunk stream chunk by chunk. CPU time of this process per request, the
   least disturbed of interleaved rounds.
2. JSON: decoding the upstream's chat completion and one stream chunk, and encoding a chat
   request, with msgspec (typed Structs, as polyrelay does, and plain), orjson (dicts),
   pydantic v2 (the openai SDK's own models) and the standard library. µs per call.

bench/README.md records the figures and what was chosen.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
import msgspec
import orjson
import uvloop
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from bench import bodies
from bench.upstream import start_nginx
from polyrelay.providers.http1 import Http1Client
from polyrelay.schemas.openai_chat import (
    ChatCompletion as ChatStruct,
    ChatCompletionChunk as ChunkStruct,
    ChatCompletionCreateParams as RequestStruct,
)

Fetch = Callable[[str, bytes, bool], Awaitable[int]]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _clients(
    json_url: str, sse_url: str, body: bytes, requests: int, rounds: int
) -> dict[str, float]:
    headers = {"content-type": "application/json", "authorization": "Bearer sk-upstream"}
    aio = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    hx = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=10), timeout=30)
    own = Http1Client()

    async def with_aiohttp(url: str, data: bytes, stream: bool) -> int:
        async with aio.post(url, data=data, headers=headers) as response:
            if not stream:
                return len(await response.read())
            return sum([len(chunk) async for chunk in response.content.iter_any()])

    async def with_httpx(url: str, data: bytes, stream: bool) -> int:
        if not stream:
            return len((await hx.post(url, content=data, headers=headers)).content)
        async with hx.stream("POST", url, content=data, headers=headers) as response:
            return sum([len(chunk) async for chunk in response.aiter_raw()])

    async def with_http1(url: str, data: bytes, _stream: bool) -> int:
        response = await own.request(
            "POST", url, headers, data, connect_timeout=10, read_timeout=30
        )
        return sum([len(chunk) async for chunk in response.chunks()])

    fetchers: dict[str, Fetch] = {
        "aiohttp": with_aiohttp,
        "httpx": with_httpx,
        "http1": with_http1,
    }
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for name, fetch in fetchers.items():
                for stream in (False, True):
                    url = sse_url if stream else json_url
                    for _ in range(50):  # warm: the pooled connection, caches
                        await fetch(url, body, stream)
                    start = _cpu()
                    for _ in range(requests):
                        assert await fetch(url, body, stream) > 0
                    key = f"{name} {'stream' if stream else 'json'}"
                    per_request = (_cpu() - start) / requests * 1e6
                    best[key] = min(best.get(key, per_request), per_request)
    finally:
        await aio.close()
        await hx.aclose()
        await own.close()
    return best


def _json_cases() -> dict[str, dict[str, Callable[[], object]]]:
    completion = bodies.openai_chat_json()
    completion = completion if isinstance(completion, bytes) else completion.encode()
    stream = bodies.openai_chat_sse()
    stream = stream if isinstance(stream, bytes) else stream.encode()
    chunk = stream.split(b"\n\n")[3].removeprefix(b"data: ")
    request = bodies.client_request("chat", "gpt-bench", False)
    request_struct = msgspec.json.decode(request, type=RequestStruct)
    request_dict = json.loads(request)
    typed = msgspec.json.Decoder(ChatStruct).decode
    typed_chunk = msgspec.json.Decoder(ChunkStruct).decode
    plain = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    return {
        "decode completion": {
            "msgspec Struct": lambda: typed(completion),
            "msgspec dict": lambda: plain(completion),
            "orjson dict": lambda: orjson.loads(completion),
            "pydantic model": lambda: ChatCompletion.model_validate_json(completion),
            "json dict": lambda: json.loads(completion),
        },
        "decode chunk": {
            "msgspec Struct": lambda: typed_chunk(chunk),
            "msgspec dict": lambda: plain(chunk),
            "orjson dict": lambda: orjson.loads(chunk),
            "pydantic model": lambda: ChatCompletionChunk.model_validate_json(chunk),
            "json dict": lambda: json.loads(chunk),
        },
        "encode request": {
            "msgspec Struct": lambda: encode(request_struct),
            "msgspec dict": lambda: encode(request_dict),
            "orjson dict": lambda: orjson.dumps(request_dict),
            "json dict": lambda: json.dumps(request_dict, separators=(",", ":")),
        },
    }


def _time(call: Callable[[], object]) -> float:
    number = 20000
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/choices.py", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("JSON, µs per call (best of 5 x 20000):")
    for case, libraries in _json_cases().items():
        cells = ", ".join(f"{lib} {_time(call):.2f}" for lib, call in libraries.items())
        print(f"  {case}: {cells}")
    with tempfile.TemporaryDirectory(prefix="polyrelay-choices-") as tmp:
        upstream = start_nginx(Path(tmp))
        try:
            body = bodies.client_request("chat", "gpt-bench", False)
            urls = (upstream.url("openai", False), upstream.url("openai", True))
            best = uvloop.run(_clients(*urls, body, args.requests, args.rounds))
        finally:
            upstream.child.stop()
    print(f"upstream client, CPU µs per request (least disturbed of {args.rounds} rounds):")
    for key, value in sorted(best.items()):
        print(f"  {key:14} {value:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
