"""In-memory state of one emulator app: the request log, `once` errors, issued call ids
and the prompt cache."""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers

from polyrelay.codec import encode
from polyrelay.emulator.prompt_cache import PromptCache

__all__ = ["BoundedMemory", "EmulatorState", "RequestLog", "RequestRecord"]

MASK = "***"
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key"})
_KEY_IN_QUERY = re.compile(r"(^|&)(key=)[^&]*")


@dataclass(slots=True)
class RequestRecord:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    cancelled: bool = False


class RequestLog:
    """The last `capacity` API requests, newest last, with credentials masked, whose
    bodies (`size`, as sent) come to at most `max_bytes` together; the newest is kept
    whatever its size. Bounded by count alone, the log of the emulator embedded in a
    gateway held its last thousand clients' bodies: a GB for bodies of a MB."""

    def __init__(self, capacity: int = 1000, max_bytes: int = 64 << 20) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._records: deque[tuple[RequestRecord, int]] = deque()
        self._bytes = 0

    def record(
        self, method: str, path: str, query: str, headers: Headers, body: Any, size: int = 0
    ) -> RequestRecord:
        masked_query = _KEY_IN_QUERY.sub(r"\1\2" + MASK, query)
        entry = RequestRecord(method, path, masked_query, _masked(headers), body)
        self._records.append((entry, size))
        self._bytes += size
        while len(self._records) > self._capacity or (
            self._bytes > self._max_bytes and len(self._records) > 1
        ):
            self._bytes -= self._records.popleft()[1]
        return entry

    def clear(self) -> None:
        self._records.clear()
        self._bytes = 0

    def to_json(self) -> bytes:
        return encode({"requests": [record for record, _ in self._records]})

    def __len__(self) -> int:
        return len(self._records)


def _masked(headers: Headers) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers.items():
        shown = MASK if name in _CREDENTIAL_HEADERS else value
        result[name] = f"{result[name]}, {shown}" if name in result else shown
    return result


class BoundedMemory:
    """A bounded key → value map that forgets its oldest entries."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, str] = OrderedDict()

    def remember(self, key: str, value: str = "") -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, key: str) -> str | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class EmulatorState:
    def __init__(self, latency_ms: int, tokens_per_second: float | None) -> None:
        self.latency_seconds = max(latency_ms, 0) / 1000
        self.tokens_per_second = tokens_per_second if tokens_per_second else None
        self.log = RequestLog()
        # `[[error STATUS once]]` keys already failed once.
        self.failed_once = BoundedMemory()
        # Tool-call ids the emulator issued → tool name, so a later tool result finds its
        # name even when the client does not resend the call (previous_response_id).
        self.call_names = BoundedMemory()
        # What each API key's prompts left in the providers' prompt caches.
        self.prompt_cache = PromptCache()

    def should_fail(self, once_key: str | None) -> bool:
        if once_key is None:
            return True
        if once_key in self.failed_once:
            return False
        self.failed_once.remember(once_key)
        return True
