"""The one INSERT shape that both engines' bulk paths rewrite.

`INSERT INTO t [(columns)] VALUES (<one row of placeholders and literals>) [rest]`, where
`rest` is e.g. an ON CONFLICT clause. SQLite joins many rows into one statement
(sqlite_bulk); PostgreSQL copies them (postgres_copy), when every value is a placeholder
and the columns are named.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

__all__ = ["OneRowInsert", "one_row_insert"]

_SHAPE = re.compile(
    r"(\s*INSERT INTO (\w+)\s*(?:\(([\w, ]+)\)\s*)?VALUES\s*)(\([^()]*\))(.*)", re.I | re.S
)
_VALUE = r"(?:\?|'[^'?]*'|\d+)"
_ROW = re.compile(rf"\(\s*(?:{_VALUE}\s*,\s*)*{_VALUE}\s*\)")
_PLACEHOLDERS = re.compile(r"\(\s*(?:\?\s*,\s*)*\?\s*\)")


class OneRowInsert(NamedTuple):
    head: str
    """Everything before the row, `INSERT INTO t (a, b) VALUES `."""
    table: str
    columns: str | None
    """The column list as written, `a, b`; None when the statement names none."""
    row: str
    """The row, `(?, ?, 'x')`."""
    rest: str
    """What follows the row, as written."""

    @property
    def width(self) -> int:
        """Placeholders in the row: the values each row of parameters has."""
        return self.row.count("?")

    @property
    def placeholders_only(self) -> bool:
        return _PLACEHOLDERS.fullmatch(self.row) is not None


@functools.lru_cache(maxsize=128)
def one_row_insert(sql: str) -> OneRowInsert | None:
    """`sql` taken apart, or None when it is not an INSERT of that shape."""
    match = _SHAPE.fullmatch(sql)
    if match is None or _ROW.fullmatch(match.group(4)) is None:
        return None
    head, table, columns, row, rest = match.groups()
    return OneRowInsert(head, table, columns, row, rest)
