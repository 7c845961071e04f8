"""Create or repair the BM25 full-text indexes (pg_textsearch).

manage.py fulltext_index [--rebuild]

Creates the extension and the indexes when the server preloads pg_textsearch but they are missing
(a server that started preloading it after `migrate` ran), and rebuilds an index that lost its
corpus statistics in a restart (pg_textsearch 1.0: every BM25 query finds nothing until then).
``--rebuild`` rebuilds both, moving the documents pg_textsearch holds in its shared-memory memtable
into on-disk segments, then ANALYZEs the tables (after a bulk load: queries get several times faster,
and stale planner statistics no longer make PostgreSQL score every chunk of a workspace outside the
index; writes to the table wait while it runs, about 4 s per 70,000 chunks here).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from content import bm25


class Command(BaseCommand):
    help = "Create missing BM25 indexes where pg_textsearch is preloaded, and rebuild stale ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="REINDEX both indexes and ANALYZE their tables (after a bulk load)")

    def handle(self, *args: Any, **options: Any) -> None:
        done = bm25.ensure_indexes(rebuild=options["rebuild"])
        state = bm25.status()
        for action in done:
            self.stdout.write(action)
        if not state["library"]:
            self.stdout.write(
                "pg_textsearch is not preloaded (shared_preload_libraries = 'pg_textsearch'): full-text search "
                "ranks with ts_rank_cd"
            )
        elif state["ready"]:
            self.stdout.write(f"BM25 ready ({', '.join(state['indexes'])})")
