"""Create or repair the BM25 full-text indexes (pg_textsearch).

manage.py fulltext_index

Creates the extension and the indexes when the server preloads pg_textsearch but they are missing
(a server that started preloading it after `migrate` ran), and rebuilds an index that lost its
corpus statistics in a restart (pg_textsearch 1.0: every BM25 query finds nothing until then).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from content import bm25


class Command(BaseCommand):
    help = "Create missing BM25 indexes where pg_textsearch is preloaded, and rebuild stale ones."

    def handle(self, *args: Any, **options: Any) -> None:
        done = bm25.ensure_indexes()
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
