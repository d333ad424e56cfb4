"""`polyrelay tasks list|show ID|webhook-secret` (the argparse wiring is in polyrelay.cli).

They read the database `serve` uses, so they see every server process's tasks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from polyrelay import codec
from polyrelay.cli_common import Actions, action_group, database, table, when
from polyrelay.settings import Settings
from polyrelay.tasks.model import Task, task_object
from polyrelay.tasks.webhooks import stored_secret

__all__ = ["add_tasks_parser"]

SettingsOf = Callable[[argparse.Namespace, Mapping[str, str]], Settings]


def add_tasks_parser(
    commands: Actions,
    common: argparse.ArgumentParser,
    settings_of: SettingsOf,
) -> None:
    actions = action_group(
        commands,
        common,
        "tasks",
        help="inspect async tasks",
        description="Inspect the async tasks (async: true, background: true) in the database.",
    )
    listing = actions.add_parser(
        "list", parents=[common], help="list tasks, newest first", description="List tasks."
    )
    listing.add_argument("--key", metavar="ID", help="only the tasks of this key id")
    listing.add_argument("--limit", type=_limit, default=50, help="at most N tasks (default 50)")
    listing.set_defaults(handler=lambda args, env: _list(args, settings_of(args, env)))
    show = actions.add_parser(
        "show",
        parents=[common],
        help="print one task as JSON",
        description="Print a task object (with its result or error) as JSON.",
    )
    show.add_argument("id", metavar="ID", help="the task id (task_...) or background resp_ id")
    show.set_defaults(handler=lambda args, env: _show(args, settings_of(args, env)))
    secret = actions.add_parser(
        "webhook-secret",
        parents=[common],
        help="print the webhook signing secret",
        description="Print the secret that signs webhook deliveries (tasks.webhook_secret, "
        "else the one generated and stored in the database).",
    )
    secret.set_defaults(handler=lambda args, env: _secret(settings_of(args, env)))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings) as opened:
        tasks = opened.tasks.list(args.key, args.limit, None)
    if not tasks:
        _say("No tasks.")
        return 0
    header = ("ID", "STATUS", "KEY", "MODEL", "ATTEMPTS", "CREATED", "FINISHED")
    _say(table([header, *(_row(task) for task in tasks)]))
    return 0


def _row(task: Task) -> tuple[str, ...]:
    return (
        task.id,
        str(task.status),
        task.key.id,
        task.model,
        str(task.attempts),
        when(task.created_at),
        when(task.finished_at),
    )


def _show(args: argparse.Namespace, settings: Settings) -> int:
    task_id: str = args.id
    with database(settings) as opened:
        task = opened.tasks.get(task_id)
    if task is None:
        sys.stderr.write(f"polyrelay: no task with id {task_id!r} (see: polyrelay tasks list)\n")
        return 1
    document = task_object(task)
    document["key_id"] = task.key.id
    _say(codec.encode_str(document))
    return 0


def _secret(settings: Settings) -> int:
    with database(settings) as opened:
        _say(stored_secret(opened.tasks, settings.tasks))
    return 0


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 10000, got {text!r}")
    return int(text)
