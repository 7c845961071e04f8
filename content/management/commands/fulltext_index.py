"""Create or repair the BM25 full-text indexes (pg_textsearch): the table-wide ones and each
workspace's own.

manage.py fulltext_index [--rebuild] [--workspace W ...] [--shared-only]

Creates the extension and the table-wide indexes when the server preloads pg_textsearch but they
are missing (a server that started preloading it after `migrate` ran), gives every workspace holding
chunks its own BM25 indexes (``content.bm25_workspaces``; ``--workspace`` only those), and rebuilds
an index that lost its corpus statistics in a restart (pg_textsearch 1.0: every BM25 query finds
nothing until then). ``--rebuild`` rebuilds them all, moving the documents pg_textsearch holds in
its shared-memory memtable into on-disk segments, then ANALYZEs the tables (after a bulk load:
queries get several times faster, and stale planner statistics no longer make PostgreSQL score every
chunk of a workspace outside the index; writes to the table wait while it runs, about 4 s per 70,000
chunks here).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from content import bm25, bm25_workspaces
from core.management.arguments import workspace_argument


class Command(BaseCommand):
    help = "Create missing BM25 indexes (table-wide and per workspace) and rebuild stale ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="REINDEX every index, then ANALYZE")
        parser.add_argument("--workspace", action="append", default=[], help="only this workspace (slug or id)")
        parser.add_argument("--shared-only", action="store_true", help="only the table-wide indexes")

    def handle(self, *args: Any, **options: Any) -> None:
        done = bm25.ensure_indexes(rebuild=options["rebuild"])
        state = bm25.status()
        if state["library"] and state["extension"] and not options["shared_only"]:
            targets = [workspace_argument(w).pk for w in options["workspace"]]
            if not targets:
                targets = bm25_workspaces.workspaces_with_chunks()
            for workspace_id in targets:
                done += bm25_workspaces.ensure(workspace_id, rebuild=options["rebuild"])
        for action in done:
            self.stdout.write(action)
        if not state["library"]:
            self.stdout.write(
                "pg_textsearch is not preloaded (shared_preload_libraries = 'pg_textsearch'): full-text search "
                "ranks with ts_rank_cd"
            )
        elif state["ready"]:
            counts = bm25_workspaces.summary()
            self.stdout.write(
                f"BM25 ready ({', '.join(state['indexes'])}); {counts['own']} workspace(s) with their own "
                f"indexes, {counts['shared']} ranked by the table-wide ones"
            )
