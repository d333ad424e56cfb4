"""A 200 to a streamed request that is no event stream: refused before any byte.

A server that ignores `stream: true` answers JSON (some vLLM and llama.cpp builds, proxies
that buffer), and a captive portal or misrouted proxy answers an HTML page. Relayed, or
fed to a stream parser, either reaches the client as a 200 whose stream ends at once with
a misleading "stream ended early" error frame that no SDK retries. Nothing has been sent
yet when the upstream's headers arrive, so the client gets a 502 naming what came, on
the fast path and the translated one alike.
"""

from __future__ import annotations

from polyrelay import codec
from polyrelay.errors import UpstreamError
from polyrelay.pipeline.metering import usage_of_body
from polyrelay.providers import surrogates
from polyrelay.providers.transport import UpstreamStream

__all__ = ["decoded_json", "refuse_if_unstreamed"]

_NOT_STREAMS = frozenset({"application/json", "text/html"})


async def refuse_if_unstreamed(stream: UpstreamStream, provider_type: str) -> None:
    """Raise the 502 when `stream` (a 2xx) is labelled JSON or HTML. A JSON answer was
    billed: the error carries its usage, which the handler records as for any billed
    failure."""
    media_type = stream.headers.get("content-type")
    if media_type is None or not _not_a_stream(media_type):
        return
    async with stream:
        response = await stream.read()
    error = UpstreamError(
        f"the upstream answered a streamed request with {media_type[:100]!r}, not an event stream",
        status=502,
    )
    error.usage = usage_of_body(provider_type, decoded_json(response.body))
    raise error


def _not_a_stream(media_type: str) -> bool:
    """JSON or an HTML page: what comes instead of a stream. Any other label is relayed,
    since some compatible servers and proxies send their event streams as `text/plain`
    or `application/octet-stream`."""
    kind = media_type.partition(";")[0].strip().lower()
    return kind in _NOT_STREAMS or kind.endswith("+json")


def decoded_json(body: bytes) -> object:
    """`body` decoded, or None when it is not JSON. A lone UTF-16 surrogate escape in it
    (`\\ud83d` with no low half) is read as U+FFFD: strict decoding refuses it, and a
    str holding the half could not be written out again (surrogates.py)."""
    try:
        return codec.decode(body)
    except codec.DecodeError:
        return surrogates.loads_whole(body)
