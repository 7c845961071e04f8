"""Known-item search evaluation of a workspace.

manage.py search_eval queries.jsonl --workspace W [--modes hybrid,semantic,fulltext] [--limit N] [--json]

Each line of the file is {"query": "...", "external_id": "..."}: the document the query should
find. Prints MRR@10, R@1 and R@10 per mode, and the latency per query (p50/p95 wall time and
this process's CPU time), searching uncached.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from content import selectors
from content.evaluation import EvaluationError, evaluate, format_table, read_known_items
from content.fulltext import active_ranking
from content.services import workspace_embedding
from core.management.arguments import workspace_argument


class Command(BaseCommand):
    help = "Known-item evaluation: MRR@10, R@1, R@10 and latency per search mode on a JSONL file of queries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help='JSONL, one {"query": ..., "external_id": ...} per line')
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--modes", default=",".join(selectors.SEARCH_MODES), help="comma-separated modes")
        parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_argument(options["workspace"])
        modes = [m.strip() for m in options["modes"].split(",") if m.strip()]
        unknown = [m for m in modes if m not in selectors.SEARCH_MODES]
        if unknown or not modes:
            raise CommandError(f"unknown mode(s) {unknown}; choose from {', '.join(selectors.SEARCH_MODES)}")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            items = read_known_items(options["file"], limit=options["limit"])
        except EvaluationError as exc:
            raise CommandError(str(exc)) from None
        provider, model = workspace_embedding(workspace_id=workspace.pk)
        bar = tqdm(
            total=len(items) * len(modes),
            desc="search_eval",
            unit="query",
            file=sys.stderr,
            disable=options["verbosity"] == 0 or options["json"],
        )
        try:
            results = evaluate(workspace_id=workspace.pk, items=items, modes=modes, progress=bar.update)
        except selectors.SearchError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "workspace": workspace.slug,
                        "provider": provider,
                        "model": model,
                        "fulltext": active_ranking(),
                        "results": [r.as_dict() for r in results],
                    },
                    indent=2,
                )
            )
            return
        self.stdout.write(
            f"workspace {workspace.slug}: {len(items)} known items; embedding {provider} ({model}); "
            f"full-text ranking {active_ranking()}"
        )
        self.stdout.write(format_table(results))
