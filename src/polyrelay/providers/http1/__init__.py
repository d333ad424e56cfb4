"""A lean HTTP/1.1 client for provider calls: a keep-alive pool over asyncio transports,
with httptools (llhttp, the parser uvicorn and Node use) reading the responses.

Why not aiohttp here: a proxied request's own cost is the target, and aiohttp's client
alone took 178 µs of CPU per pooled JSON request against nginx (bench/choices.py), about
as much as everything else polyrelay does on that request. This client takes 92 (httpx
621). Measured once beside them in a throwaway environment: aiosonic 285, rnet 281,
pyreqwest 158, and a bare asyncio + httptools loop 62, the floor for Python. aiohttp stays
for the URL fetcher and the search backends, which need its redirects, resolver hooks
and cookies; providers need none of those.

What it does: `Host`/`Content-Length` framing, Content-Length, chunked and close-delimited
bodies, gzip and deflate bodies, zlib-wrapped or raw (it never asks for them; others
are refused by name: coding.py), TLS by the default context, a
connect timeout and a read timeout (the longest wait for the next bytes), reading paused
while a slow consumer leaves 256 KiB untaken, and one retry on a fresh connection when a
reused one turns out to have been closed cleanly before any byte of the answer (the
server's idle timeout racing the reuse). Closing a response before its end drops the
connection, which is how an upstream generation is cancelled.
"""

from polyrelay.providers.http1.pool import Http1Client
from polyrelay.providers.http1.response import Http1Response, UpstreamClosedError

__all__ = ["Http1Client", "Http1Response", "UpstreamClosedError"]
