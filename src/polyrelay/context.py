"""Per-request context shared by the frontend, the pipeline and the provider."""

from __future__ import annotations

import os
import threading
import time

from polyrelay.errors import GatewayError

__all__ = ["MAX_WARNINGS", "RequestContext", "Warnings", "new_id"]

_POOL_BYTES = 4096


class _RandomPool(threading.local):
    """Bytes from the OS's CSPRNG, fetched 4 KiB at a time: a `getrandom` system call per
    id was a measurable part of a request (several ids each). One pool per thread, so two
    threads never hand out the same bytes; emptied in a forked child for the same reason."""

    def __init__(self) -> None:
        self.data = b""
        self.pos = 0


_pool = _RandomPool()


def _forget_pool() -> None:
    _pool.data, _pool.pos = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A random id in the style of the vendors' ids, e.g. `chatcmpl-3f9a...`."""
    pool = _pool
    start = pool.pos
    end = start + nbytes
    data = pool.data
    if end > len(data):
        data = pool.data = os.urandom(max(_POOL_BYTES, nbytes))
        start, end = 0, nbytes
    pool.pos = end
    return prefix + data[start:end].hex()


MAX_WARNINGS = 20


class Warnings(list[str]):
    """Distinct warnings in order, at most MAX_WARNINGS; past that, one last entry says how
    many were left out. A body of a million unknown fields must make neither a header of a
    million sentences nor a million scans of the list so far (quadratic)."""

    __slots__ = ("_left_out", "_seen")

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()
        self._left_out = 0

    def add(self, message: str) -> None:
        if message in self._seen:
            return
        if len(self._seen) < MAX_WARNINGS:
            self._seen.add(message)
            self.append(message)
            return
        self._leave_out(1)  # not remembered: a repeat of one left out counts again

    def merge(self, other: Warnings) -> None:
        """Add `other`'s warnings, and its count of those left out."""
        for message in other[: len(other._seen)]:
            self.add(message)
        if other._left_out:
            self._leave_out(other._left_out)

    def _leave_out(self, count: int) -> None:
        if self._left_out:
            self.pop()
        self._left_out += count
        self.append(f"and {self._left_out} more left out")


class RequestContext:
    """Mutable state of one client request. Not shared between requests.

    `warnings` collects every lossy mapping applied on the way (one short sentence
    each); the pipeline returns them in the `polyrelay-warnings` header and logs them.
    A decoder files what the IR cannot carry with `warn_translated`: the fast path relays
    the client's own body, which keeps those fields, so such a warning holds only once the
    pipeline has chosen to translate (`translating`).
    """

    __slots__ = (
        "created",
        "foreign_reasoning",
        "frontend_state",
        "include_usage",
        "key_id",
        "logprobs_asked",
        "message_paths",
        "model",
        "passthrough_ok",
        "request_id",
        "tool_names_back",
        "translation_warnings",
        "untranslatable",
        "warnings",
    )

    def __init__(self, model: str = "", key_id: str | None = None) -> None:
        self.request_id = new_id("req_")
        self.created = int(time.time())
        self.model = model
        """The public model name the client asked for; echoed in responses."""
        self.key_id = key_id
        self.include_usage = False
        """Chat clients: whether stream_options.include_usage was set."""
        self.logprobs_asked = False
        """Set by a provider that asked its upstream for token logprobs, for its stream
        parser: a parser reads them only then (their decode would cost every text event)."""
        self.warnings = Warnings()
        self.translation_warnings = Warnings()
        self.passthrough_ok = True
        """A decoder clears this when the body holds gateway-only features (e.g. the
        service's `file_data` blocks) that the same-protocol upstream would not accept,
        so the request takes the IR path instead of the raw relay."""
        self.untranslatable: GatewayError | None = None
        """What the IR cannot carry and only the same-protocol upstream takes (Chat's
        custom tools, say): a decoder leaves it out of the IR and files the error here,
        which the fast path never raises (it relays the client's own body) and translating
        does (`translating`)."""
        self.tool_names_back: dict[str, str] | None = None
        """Tool names renamed for the upstream (ir/tool_names.py): upstream name → the
        client's, None while none was."""
        self.message_paths: dict[tuple[int, int | None], str] | None = None
        """The client's own path of an IR message (`(i, None)`) or of a tool result's
        content (`(i, j)`) that may hold media, where it is not `messages[i]` /
        `messages[i].content[j].content` (a Chat system message or a Responses `input` item
        before it), so the media pass names the field the client sent; None while none was."""
        self.foreign_reasoning = False
        """Set by a decoder whose body carries reasoning another provider issued (this
        gateway's tokens), which the fast path must leave out: only its issuer takes it."""
        self.frontend_state: object | None = None
        """Protocol-specific options a frontend's decode keeps for its own encode and
        renderer (e.g. the Responses options); opaque to everything else."""

    def name_message(self, index: int, path: str, part: int | None = None) -> None:
        """Record the client's `path` of IR message `index`, or with `part` of the content
        of that tool result part (see `message_paths`)."""
        if self.message_paths is None:
            self.message_paths = {}
        self.message_paths[(index, part)] = path

    def message_path(self, index: int, part: int | None = None) -> str:
        paths = self.message_paths
        found = paths.get((index, part)) if paths is not None else None
        if found is not None:
            return found
        return (
            f"messages[{index}]" if part is None else f"messages[{index}].content[{part}].content"
        )

    def warn(self, message: str) -> None:
        self.warnings.add(message)

    def warn_translated(self, message: str) -> None:
        """A loss of the translation into the IR (a field it has no room for)."""
        self.translation_warnings.add(message)

    def translating(self) -> None:
        """The request takes the IR path: what decoding lost is lost, and what it could
        not carry is refused."""
        if self.untranslatable is not None:
            raise self.untranslatable
        self.warnings.merge(self.translation_warnings)

    def refuse_translated(self, error: GatewayError) -> None:
        """File what only the same-protocol fast path can relay; the first one is the
        error a translated request gets."""
        if self.untranslatable is None:
            self.untranslatable = error
