"""What the `polyrelay` subcommands share: action groups (`keys ...`, `search ...`,
`tasks ...`), the database the server uses, and plain-text tables and times."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeAlias

from polyrelay.settings import Settings
from polyrelay.storage import Database, open_configured

__all__ = ["Actions", "action_group", "database", "table", "usage", "when"]

Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def action_group(
    commands: Actions, common: argparse.ArgumentParser, name: str, *, help: str, description: str
) -> Actions:
    """A `polyrelay NAME ACTION` command; without an action it prints its help (exit 2)."""
    group = commands.add_parser(name, parents=[common], help=help, description=description)
    actions = group.add_subparsers(title="actions", metavar="ACTION")
    group.set_defaults(handler=lambda _args, _env: usage(group))
    return actions


@contextmanager
def database(settings: Settings) -> Iterator[Database]:
    """The configured database, closed on the way out."""
    opened = open_configured(settings)
    try:
        yield opened
    finally:
        opened.close()


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, trailing blanks trimmed."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
