"""Replay an agent's accepted and corrected interactions against its current version and the
previous one (or any two), and report retrieval hit rate and answer overlap.

manage.py evaluate --workspace my-lab --agent 2
manage.py evaluate --workspace 3 --agent 2 --agent-version 5 --against 3 --since 2026-11-01 --json"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents import evaluation
from core.management.arguments import workspace_argument


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


class Command(BaseCommand):
    help = "Replay accepted/corrected interactions against agent versions; report hit rate and answer overlap."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--agent", type=int, required=True, help="the agent's id")
        parser.add_argument("--agent-version", type=int, help="the version to evaluate (default: the current one)")
        parser.add_argument("--against", type=int, help="the version to compare with (default: the previous one)")
        parser.add_argument("--since", help="first day of the interactions, YYYY-MM-DD (UTC, included)")
        parser.add_argument("--until", help="last day, YYYY-MM-DD (UTC, included)")
        parser.add_argument("--json", action="store_true", help="print the reports as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from agents.flywheel.selectors import interactions_for_evaluation
        except ImportError:
            raise CommandError("the usage-analytics flywheel (agents.flywheel) is not installed") from None
        workspace = workspace_argument(options["workspace"])
        since, until = _day(options["since"]), _day(options["until"])
        if since and until and since > until:
            raise CommandError("--since is after --until")
        cases = interactions_for_evaluation(
            workspace_id=workspace.pk, agent_id=options["agent"], since=since, until=until
        )
        try:
            reports = evaluation.compare(
                workspace_id=workspace.pk,
                agent_id=options["agent"],
                cases=cases,
                version=options["agent_version"],
                against=options["against"],
            )
        except evaluation.EvaluationError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps([_as_json(r) for r in reports], ensure_ascii=False))
            return
        self.stdout.write(f"{len(cases)} accepted/corrected interactions of agent {options['agent']}")
        for report in reports:
            self.stdout.write(
                f"version {report.version}: retrieval hit rate {_percent(report.hit_rate)}, "
                f"answer overlap {_percent(report.overlap)}"
            )
        if len(reports) == 2 and reports[0].overlap is not None and reports[1].overlap is not None:
            delta = (reports[0].overlap - reports[1].overlap) * 100
            self.stdout.write(f"answer overlap vs version {reports[1].version}: {delta:+.1f} points")


def _as_json(report: evaluation.VersionReport) -> dict[str, Any]:
    return {
        "version": report.version,
        "cases": len(report.cases),
        "retrieval_hit_rate": report.hit_rate,
        "answer_overlap": report.overlap,
        "results": [
            {"event_id": c.event_id, "query": c.query, "hit": c.hit, "overlap": round(c.overlap, 4)}
            for c in report.cases
        ],
    }
