"""manage.py graph_import FILE.jsonl --workspace W: import nodes and edges (knowledge/imports.py)."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.management.arguments import workspace_argument
from knowledge.imports import BATCH_LINES, ImportInterrupted, graph_import


class Command(BaseCommand):
    help = "Import a JSON Lines graph (node and edge lines) into a workspace's knowledge graph."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="a .jsonl file (or - for standard input)")
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--batch-size", type=int, default=BATCH_LINES, help="lines per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_argument(options["workspace"])
        path = options["file"]
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        total = os.fstat(stream.fileno()).st_size if path != "-" and stream.seekable() else None
        stopped: ImportInterrupted | None = None
        with stream, tqdm(total=total, unit="B", unit_scale=True, desc="graph_import", file=sys.stderr) as bar:
            try:
                report = graph_import(
                    stream=stream,
                    name=path,
                    workspace_id=workspace.id,
                    progress=bar.update,
                    batch_lines=options["batch_size"],
                )
            except ImportInterrupted as exc:
                stopped, report = exc, exc.report
        for error in report.errors:
            self.stderr.write(error)
        self.stdout.write(
            f"imported {report.nodes} nodes and {report.edges} edges from {report.lines} lines; failed {report.failed}"
        )
        if stopped is not None:
            raise CommandError(
                f"{stopped}. That batch was rolled back; the lines before it are stored. "
                "Re-running the same command is safe: what is already imported stays as it is."
            )
        if report.failed:
            raise SystemExit(1)
