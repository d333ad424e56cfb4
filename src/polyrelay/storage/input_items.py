"""Paging a stored response's input items (`GET /v1/responses/{id}/input_items`).

The items are one JSON array in the response's row (storage/responses.py), so a page is
cut from the decoded array here, in Python: the cost is on this rare read, not on the
write every `store: true` request pays.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from polyrelay.codec import JSONObject

__all__ = ["InputItemsPage", "Order", "page_of"]

Order = Literal["asc", "desc"]


class InputItemsPage(msgspec.Struct, kw_only=True):
    items: list[JSONObject]
    has_more: bool


def page_of(items: list[JSONObject], after: str | None, limit: int, order: Order) -> InputItemsPage:
    """`items` (in position order; reordered in place) paged: `after` is an item id, the
    page starts after it in `order` (an unknown id → an empty page)."""
    if after is not None:
        ids = [_item_id(item) for item in items]
        if after not in ids:
            return InputItemsPage(items=[], has_more=False)
        # The first item with that id, in position order, as the item table's index
        # found it when items had their own table.
        at = ids.index(after)
        items = items[at + 1 :] if order == "asc" else items[:at]
    if order == "desc":
        items.reverse()
    return InputItemsPage(items=items[:limit], has_more=len(items) > limit)


def _item_id(item: JSONObject) -> str:
    """An item's id as `after` is matched against it; an item with none matches ""."""
    return str(item.get("id") or "")
