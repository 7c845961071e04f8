"""Export one workspace's judged interactions as JSONL training data.

manage.py export_training_data --workspace my-lab > train.jsonl
manage.py export_training_data --workspace 3 --agent 2 --since 2026-11-01 --until 2026-11-30
    --feedback corrected -o out.jsonl

One JSON object per line: ``prompt`` (the question), ``context`` (the cited passages),
``retrieved_ids``, ``answer``, ``feedback`` (every user's judgement, newest first) and
``correction`` (the newest non-empty one, else ""), plus event id, agent, agent version, model
and time. Only interactions with feedback are exported; ``--feedback`` narrows them."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from agents.flywheel import selectors
from core.management.arguments import workspace_argument

FEEDBACK_FILTERS = ["accepted", "edited", "rejected", "up", "down", "corrected", "rated"]


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Write a workspace's judged interactions as JSONL (prompt, context, answer, feedback, correction)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--agent", type=int, help="only this agent's interactions (id)")
        parser.add_argument("--since", help="first day, YYYY-MM-DD (UTC, included)")
        parser.add_argument("--until", help="last day, YYYY-MM-DD (UTC, included)")
        parser.add_argument("--feedback", choices=FEEDBACK_FILTERS, help="only interactions with this feedback")
        parser.add_argument("-o", "--output", help="write to this file instead of standard output")

    def handle(self, *args, **options):
        workspace = workspace_argument(options["workspace"])
        since = _day(options["since"]) if options["since"] else None
        until = _day(options["until"]) if options["until"] else None
        if since and until and since > until:
            raise CommandError("--since is after --until")
        examples = selectors.training_examples(
            workspace_id=workspace.pk,
            agent_id=options["agent"],
            since=since,
            until=until,
            feedback=options["feedback"],
        )
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else None  # noqa: SIM115
        written = 0
        try:
            target = out or self.stdout
            for example in examples:
                target.write(json.dumps(example, ensure_ascii=False) + ("\n" if out else ""))
                written += 1
        finally:
            if out:
                out.close()
        self.stderr.write(f"exported {written} interactions from {workspace.name}", style_func=None)
