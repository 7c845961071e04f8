"""manage.py graph_export --workspace W [--output FILE.jsonl]: the import format, written back."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.management.arguments import workspace_argument
from knowledge.imports import graph_export


class Command(BaseCommand):
    help = "Export a workspace's knowledge graph as JSON Lines (the graph_import format)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_argument(options["workspace"])
        path = options["output"]
        try:
            out = sys.stdout if path == "-" else open(path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
        try:
            nodes, edges = graph_export(workspace_id=workspace.id, out=out)
        finally:
            if out is not sys.stdout:
                out.close()
        self.stderr.write(f"exported {nodes} nodes and {edges} edges")
