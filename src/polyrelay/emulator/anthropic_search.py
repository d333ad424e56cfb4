"""Anthropic's web search server tool in the emulator: the blocks each `[[search QUERY]]`
becomes (a `server_tool_use` and its deterministic `web_search_tool_result`) and the
citation the reply's text carries. Kept apart from anthropic.py, which writes the message."""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import Plan, signature_hex

__all__ = ["citation", "search_blocks", "search_count"]

_RESULTS_PER_SEARCH = 3


def search_count(plan: Plan) -> int:
    limit = plan.search_max_uses
    return len(plan.searches) if limit is None else min(len(plan.searches), limit)


def search_blocks(plan: Plan) -> list[tuple[JSONObject, JSONObject]]:
    """(server_tool_use, web_search_tool_result) per `[[search QUERY]]`, deterministic."""
    out = []
    for number, query in enumerate(plan.searches):
        use_id = f"srvtoolu_emu{signature_hex(f'{number}:{query}')[:20]}"
        use = {
            "type": "server_tool_use",
            "id": use_id,
            "name": "web_search",
            "input": {"query": query},
        }
        content: JSONObject | list[JSONObject]
        if plan.search_max_uses is not None and number >= plan.search_max_uses:
            content = {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}
        else:
            content = [_search_result(query, i) for i in range(1, _RESULTS_PER_SEARCH + 1)]
        out.append(
            (use, {"type": "web_search_tool_result", "tool_use_id": use_id, "content": content})
        )
    return out


def _slug(query: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-") or "search"


def _search_result(query: str, number: int) -> JSONObject:
    url = f"https://example.com/{_slug(query)}-{number}"
    return {
        "type": "web_search_result",
        "url": url,
        "title": f"Result {number} for {query}",
        "encrypted_content": f"emu-enc-{signature_hex(url)}",
        "page_age": f"{number} days ago",
    }


def citation(searches: list[tuple[JSONObject, JSONObject]]) -> JSONObject | None:
    """A web_search_result_location citing the first result of the first search that had any."""
    for use, result in searches:
        content = result["content"]
        if isinstance(content, list) and content:
            first = content[0]
            return {
                "type": "web_search_result_location",
                "url": first["url"],
                "title": first["title"],
                "encrypted_index": f"emu-idx-{signature_hex(first['url'])}",
                "cited_text": f"{first['title']}: an excerpt about {use['input']['query']}.",
            }
    return None
