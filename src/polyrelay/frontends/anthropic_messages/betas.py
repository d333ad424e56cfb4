"""`anthropic-beta` handling for upstreams that are not Anthropic.

An Anthropic upstream gets the client's beta list unchanged (the fast path forwards it).
Elsewhere each beta is either honoured by the IR path as it is, irrelevant there, or
something the upstream cannot do, which is recorded as a warning naming the beta:

- honoured: `interleaved-thinking-*` (reasoning between tool calls is relayed wherever
  the upstream emits it), `fine-grained-tool-streaming-*` (tool input is streamed as the
  upstream sends it);
- warned: `context-1m-*` (the upstream model's own context window applies),
  `output-128k-*` (max_tokens stays within the service limit), `token-efficient-tools-*`
  (no effect), and every beta this gateway does not know;
- ignored: betas whose feature is carried by a request field (that field is mapped or
  warned about on its own) or that change nothing outside Anthropic.
"""

from __future__ import annotations

from collections.abc import Mapping

from polyrelay.context import RequestContext

__all__ = ["betas_from_headers", "warn_betas"]

_HONOURED = ("interleaved-thinking-", "fine-grained-tool-streaming-")
_IRRELEVANT = (
    "claude-code-",
    "prompt-caching-",
    "context-management-",
    "effort-",
    "mid-conversation-system-",
    "thinking-token-count-",
    "extended-cache-ttl-",
    "oauth-",
    "structured-outputs-",
    "web-search-",
    "files-api-",
    "pdfs-",
    "citations-",
    "message-batches-",
    "token-counting-",
    "redact-thinking-",
)
_UNSUPPORTED = {
    "context-1m-": "the upstream model's own context window applies",
    "output-128k-": "max_tokens stays within the service limit",
    "token-efficient-tools-": "it has no effect there",
}


def betas_from_headers(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every beta name, from comma-separated lists and repeated headers alike."""
    getlist = getattr(headers, "getlist", None)
    values: list[str] = list(getlist("anthropic-beta")) if callable(getlist) else []
    if not values and "anthropic-beta" in headers:
        values = [headers["anthropic-beta"]]
    names = (name.strip() for value in values for name in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def warn_betas(betas: tuple[str, ...], upstream: str, ctx: RequestContext) -> None:
    unknown: list[str] = []
    for beta in betas:
        if beta.startswith(_HONOURED + _IRRELEVANT):
            continue
        reason = next((r for prefix, r in _UNSUPPORTED.items() if beta.startswith(prefix)), None)
        if reason is not None:
            ctx.warn(f"anthropic-beta {beta} is not available on the {upstream} upstream; {reason}")
        else:
            unknown.append(beta)
    if unknown:
        names = ", ".join(unknown)
        ctx.warn(f"anthropic-beta {names} not understood for the {upstream} upstream; ignored")
