"""`polyrelay usage [--key ID] [--model NAME] [--since YYYY-MM-DD] [--group-by key|model|day]`:
requests, tokens and cost per group from the database `serve` records usage in (the
argparse wiring is in polyrelay.cli)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from polyrelay.cli_common import Actions, database, table
from polyrelay.settings import Settings
from polyrelay.storage.usage import GROUP_BY, UsageGroup, parse_since

__all__ = ["add_usage_parser", "usage_rows"]

SettingsOf = Callable[[argparse.Namespace, Mapping[str, str]], Settings]

_HEADER = (
    "GROUP",
    "REQUESTS",
    "INPUT",
    "OUTPUT",
    "CACHE_READ",
    "CACHE_WRITE",
    "CACHE_WRITE_1H",
    "REASONING",
    "SEARCHES",
    "COST_USD",
)


def add_usage_parser(
    commands: Actions, common: argparse.ArgumentParser, settings_of: SettingsOf
) -> None:
    parser = commands.add_parser(
        "usage",
        parents=[common],
        help="show recorded usage",
        description="Requests, tokens and cost (from the models' prices) per group, "
        "as recorded by the server for every request an upstream served or refused.",
    )
    parser.add_argument("--key", metavar="ID", help="only this key id (see `keys list`)")
    parser.add_argument("--model", metavar="NAME", help="only this public model name")
    parser.add_argument(
        "--since", metavar="YYYY-MM-DD", type=_since, help="only from this day on (UTC)"
    )
    parser.add_argument(
        "--group-by", choices=GROUP_BY, default="model", help="one row per (default: model)"
    )

    def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
        with database(settings_of(args, env)) as db:
            groups = db.usage.summary(
                group_by=args.group_by, key_id=args.key, model=args.model, since=args.since
            )
        if not groups:
            sys.stdout.write("no usage recorded\n")
            return 0
        sys.stdout.write(table(usage_rows(groups)) + "\n")
        return 0

    parser.set_defaults(handler=run)


def usage_rows(groups: list[UsageGroup]) -> list[tuple[str, ...]]:
    """The header, one row per group, and a TOTAL row."""
    rows: list[tuple[str, ...]] = [_HEADER]
    for g in groups:
        rows.append(_row(g.group, g))
    costs = [g.cost_usd for g in groups if g.cost_usd is not None]
    total = UsageGroup(
        group="TOTAL",
        requests=sum(g.requests for g in groups),
        input_tokens=sum(g.input_tokens for g in groups),
        output_tokens=sum(g.output_tokens for g in groups),
        cache_read_tokens=sum(g.cache_read_tokens for g in groups),
        cache_write_tokens=sum(g.cache_write_tokens for g in groups),
        cache_write_1h_tokens=sum(g.cache_write_1h_tokens for g in groups),
        reasoning_tokens=sum(g.reasoning_tokens for g in groups),
        web_search_requests=sum(g.web_search_requests for g in groups),
        cost_usd=sum(costs) if costs else None,
    )
    rows.append(_row("TOTAL", total))
    return rows


def _row(name: str, g: UsageGroup) -> tuple[str, ...]:
    cost = "-" if g.cost_usd is None else f"{g.cost_usd:.6f}"
    counts = (
        g.requests,
        g.input_tokens,
        g.output_tokens,
        g.cache_read_tokens,
        g.cache_write_tokens,
        g.cache_write_1h_tokens,
        g.reasoning_tokens,
        g.web_search_requests,
    )
    return (name, *(str(n) for n in counts), cost)


def _since(text: str) -> int:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
