"""The providers' prompt caches, simulated: how much of a prompt a provider reads from its
cache and how much it writes to it, deterministically, in the emulator's memory.

A prompt is the request's words (the emulator's tokens) in the provider's cache order, in
blocks (an Anthropic content block, a message, a tool's description). What the cache keeps
of a prompt is the digest of its first N words (blake2b, seeded with the API key and the
model, so keys and models never share), each with an expiry: never the prompt itself.
The digests are computed incrementally, one pass over the words per request, and only for
requests that can be cached at all (a cache breakpoint, or a prompt past the minimum), so
the emulator's short-prompt hot path pays nothing.

- Explicit (Anthropic): the prefix up to each cache breakpoint is written, if it is at
  least the model's minimum, for the breakpoint's ttl (5 minutes or 1 hour; a read
  refreshes it). A read is the longest prefix remembered among the breakpoints and the
  20 blocks before each (the API's lookback); the words from there to the last
  breakpoint are written, in the ttl of the breakpoint that ends them.
- Automatic (OpenAI, Gemini): a prompt of at least the minimum is remembered at every
  `step` words from the minimum on (OpenAI: 128) or at each block end past the minimum
  (Gemini); a read is the longest remembered one. These report no writes.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "FIVE_MINUTES",
    "NO_CACHE",
    "ONE_HOUR",
    "Breakpoint",
    "CacheUsage",
    "CachedPrompt",
    "PromptCache",
    "gemini_prompt",
    "openai_prompt",
]

FIVE_MINUTES = 300.0
ONE_HOUR = 3600.0
LOOKBACK_BLOCKS = 20
"""How far before a breakpoint Anthropic looks for an earlier cache entry."""


@dataclass(slots=True, frozen=True)
class CacheUsage:
    """A request's cache figures, in words."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h

    @property
    def cached(self) -> int:
        """The words up to the last breakpoint, read or written: what Anthropic's
        `input_tokens` leaves out."""
        return self.read + self.written


NO_CACHE = CacheUsage()


@dataclass(slots=True, frozen=True)
class Breakpoint:
    block: int
    """The index of the block whose end the cache marker marks."""
    ttl: float


@dataclass(slots=True)
class CachedPrompt:
    """What a request offers a provider's prompt cache."""

    model: str
    blocks: list[str]
    """The texts in the provider's cache order."""
    minimum: int
    """The fewest words a cache entry may hold."""
    breakpoints: list[Breakpoint] | None = None
    """Explicit caching's markers, in order; None for automatic caching."""
    step: int = 0
    """Automatic caching: the prefixes remembered, every `step` words from the minimum;
    0 for every block end past it."""
    ttl: float = FIVE_MINUTES
    """Automatic caching's lifetime of an entry, from its last use."""


class PromptCache:
    """Every key's cached prefixes, as digests with an expiry; the oldest are forgotten
    past `capacity` (a test suite sends thousands of requests to one emulator)."""

    def __init__(self, capacity: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        """digest → (expiry, ttl)."""

    def use(self, api_key: str, prompt: CachedPrompt) -> CacheUsage:
        """What the provider reads and writes for `prompt`; remembers what it writes."""
        if prompt.breakpoints is not None:
            return self._explicit(api_key, prompt, prompt.breakpoints)
        return self._automatic(api_key, prompt)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _explicit(
        self, api_key: str, prompt: CachedPrompt, breakpoints: list[Breakpoint]
    ) -> CacheUsage:
        words, ends = _words(prompt.blocks)
        if not breakpoints or ends[breakpoints[-1].block] < prompt.minimum:
            return NO_CACHE
        looked_at = {
            ends[block]
            for mark in breakpoints
            for block in range(max(mark.block - LOOKBACK_BLOCKS, 0), mark.block + 1)
        }
        digests = _prefix_digests(_namespace(api_key, prompt.model), words, sorted(looked_at))
        read = self._longest_hit(digests)
        written = {FIVE_MINUTES: 0, ONE_HOUR: 0}
        start = read
        for mark in breakpoints:
            end = ends[mark.block]
            if end > start:
                written[mark.ttl] += end - start
                start = end
            if end >= prompt.minimum and end > read:
                self._remember(digests[end], mark.ttl)
        return CacheUsage(read, written[FIVE_MINUTES], written[ONE_HOUR])

    def _automatic(self, api_key: str, prompt: CachedPrompt) -> CacheUsage:
        words, ends = _words(prompt.blocks)
        if len(words) < prompt.minimum:
            return NO_CACHE
        if prompt.step:
            positions: Iterable[int] = range(prompt.minimum, len(words) + 1, prompt.step)
        else:
            positions = sorted({end for end in ends if end >= prompt.minimum})
        digests = _prefix_digests(_namespace(api_key, prompt.model), words, positions)
        read = self._longest_hit(digests)
        for position, digest in digests.items():
            if position > read:
                self._remember(digest, prompt.ttl)
        return CacheUsage(read=read)

    def _longest_hit(self, digests: dict[int, bytes]) -> int:
        """The longest remembered prefix, its lifetime renewed (a read refreshes it)."""
        now = self._clock()
        for position in sorted(digests, reverse=True):
            entry = self._entries.get(digests[position])
            if entry is not None and entry[0] > now:
                self._remember(digests[position], entry[1])
                return position
        return 0

    def _remember(self, digest: bytes, ttl: float) -> None:
        self._entries[digest] = (self._clock() + ttl, ttl)
        self._entries.move_to_end(digest)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


def _words(blocks: list[str]) -> tuple[list[str], list[int]]:
    """The prompt's words, and the word position where each block ends."""
    split = [block.split() for block in blocks]
    ends = list(itertools.accumulate(map(len, split)))
    return list(itertools.chain.from_iterable(split)), ends


def _namespace(api_key: str, model: str) -> bytes:
    return f"{api_key}\0{model}\0".encode()


def _prefix_digests(
    namespace: bytes, words: list[str], positions: Iterable[int]
) -> dict[int, bytes]:
    """The digest of the first N words for each N of `positions` (ascending), in one pass."""
    hasher = hashlib.blake2b(namespace, digest_size=16)
    digests: dict[int, bytes] = {}
    done = 0
    for position in positions:
        if position > done:
            hasher.update(" ".join(words[done:position]).encode() + b" ")
            done = position
        digests[position] = hasher.copy().digest()
    return digests


OPENAI_MINIMUM = 1024
OPENAI_STEP = 128
_RETENTIONS = {"24h": 24 * ONE_HOUR}


def openai_prompt(
    model: str, blocks: list[str], words: int, retention: object
) -> CachedPrompt | None:
    """OpenAI's automatic caching: a prompt of at least 1024 tokens, cached in steps of 128;
    `prompt_cache_retention: 24h` keeps it a day, in memory it lasts minutes."""
    if words < OPENAI_MINIMUM:
        return None
    ttl = _RETENTIONS.get(retention, FIVE_MINUTES) if isinstance(retention, str) else FIVE_MINUTES
    return CachedPrompt(model, blocks, OPENAI_MINIMUM, step=OPENAI_STEP, ttl=ttl)


def gemini_prompt(model: str, blocks: list[str], words: int) -> CachedPrompt | None:
    """Gemini's implicit caching: at least 1024 tokens on Flash models, 4096 on Pro."""
    minimum = 4096 if "pro" in model else 1024
    return CachedPrompt(model, blocks, minimum) if words >= minimum else None
