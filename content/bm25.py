"""The BM25 indexes of full-text search (pg_textsearch): which exist, whether they are healthy, and
creating or repairing them.

- pg_textsearch must be preloaded (``shared_preload_libraries``). Migration 0003 creates the
  extension and the two indexes only when it is; a server that starts preloading it later (e.g. an
  embedded data directory from before, which gets the setting at its next start) needs
  ``manage.py fulltext_index`` to create them.
- pg_textsearch 1.0 keeps recent inserts in a shared-memory memtable. After a server restart it
  rebuilds the memtable, but its corpus statistics can come back as ``total_docs: 0`` when nothing
  had been spilled to disk yet; every BM25 query then returns nothing (upstream issue #350; fixed
  after 1.0). ``status()`` reports such an index as stale, full-text ranking falls back to
  ts_rank_cd meanwhile, and ``manage.py fulltext_index`` rebuilds it (REINDEX).
- These indexes cover every workspace (one per column); a workspace ranks with them until it has
  its own (``content.bm25_workspaces``). pg_textsearch 1.0 accepts a partial index
  (``... USING bm25 (text) WHERE workspace_id = 3``) but its build ignores the predicate (the index
  holds every row) while the planner, trusting the predicate, drops the query's ``workspace_id = 3``
  filter: such an index returns other workspaces' chunks. Never create one on 1.0
  (``tests/content/test_bm25.py`` pins this behaviour so an upgrade that fixes it is noticed).
"""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from psycopg import sql

TEXT_INDEX = "content_chunk_text_bm25"
TITLE_INDEX = "content_document_title_bm25"
INDEXES = {
    TEXT_INDEX: ("content_chunk", "text"),
    TITLE_INDEX: ("content_document", "title"),
}
_TOTAL_DOCS = re.compile(r"total_docs:\s*(\d+)")
_DOCS = re.compile(r"(?:documents:\s*|docs=)(\d+)")


def _present(cursor) -> list[str]:
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(%s)",
        [list(INDEXES)],
    )
    return sorted(row[0] for row in cursor.fetchall())


def _is_stale(cursor, index: str) -> bool:
    """The index holds documents but its corpus statistics say none (every query finds nothing)."""
    cursor.execute("SELECT bm25_summarize_index(%s)", [index])
    summary = cursor.fetchone()[0] or ""
    total = _TOTAL_DOCS.search(summary)
    held = sum(int(n) for n in _DOCS.findall(summary))
    return total is not None and int(total.group(1)) == 0 and held > 0


def status() -> dict[str, object]:
    """``library`` (version when preloaded), ``extension`` (installed version), ``indexes`` (present),
    ``stale`` (present but answering nothing), ``ready`` (BM25 can rank), ``writes_blocked``
    (indexes exist but the library is not loaded: writing chunks would fail)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('pg_textsearch.library_version', true), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'pg_textsearch')"
        )
        library, extension = cursor.fetchone()
        present = _present(cursor)
        stale = [name for name in present if library and extension and _is_stale(cursor, name)]
    ready = bool(library and extension) and len(present) == len(INDEXES) and not stale
    return {
        "library": library,
        "extension": extension,
        "indexes": present,
        "stale": stale,
        "ready": ready,
        "writes_blocked": bool(present) and not library,
    }


def check_writable() -> None:
    """Raise a clear ``ImproperlyConfigured`` when BM25 indexes exist but pg_textsearch is not
    loaded: PostgreSQL would refuse every chunk write with an error about the index access method."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pg_textsearch.library_version', true)")
        if cursor.fetchone()[0]:
            return
        present = _present(cursor)
    if present:
        raise ImproperlyConfigured(
            f"the BM25 full-text indexes ({', '.join(present)}) need pg_textsearch, which this PostgreSQL server "
            "does not preload: set shared_preload_libraries = 'pg_textsearch' and restart it (the embedded "
            "server does this itself), or drop the indexes to rank with ts_rank_cd"
        )


def ensure_indexes(*, rebuild: bool = False) -> list[str]:
    """Create the extension and missing indexes when the library is preloaded, and rebuild stale
    ones (``rebuild=True``: every one, which also moves the documents held in pg_textsearch's
    shared-memory memtable into on-disk segments, several times faster to query). Run outside a
    transaction (index DDL must not sit in a long one). Returns what was done."""
    done: list[str] = []
    before = status()
    if not before["library"]:
        return done
    with connection.cursor() as cursor:
        if not before["extension"]:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_textsearch")
            done.append("CREATE EXTENSION pg_textsearch")
        for index, (table, column) in INDEXES.items():
            if index not in before["indexes"]:
                cursor.execute(
                    sql.SQL(
                        "CREATE INDEX IF NOT EXISTS {} ON {} USING bm25 ({}) WITH (text_config = 'english')"
                    ).format(sql.Identifier(index), sql.Identifier(table), sql.Identifier(column))
                )
                done.append(f"CREATE INDEX {index}")
            elif rebuild or index in before["stale"]:
                cursor.execute(sql.SQL("REINDEX INDEX {}").format(sql.Identifier(index)))
                done.append(f"REINDEX {index}")
        if rebuild:
            # Fresh planner statistics after a bulk load: with stale ones PostgreSQL underestimates a
            # workspace's chunks and scores every one of them outside the index (~70 us each) instead of
            # reading the BM25 index in order (measured: 77 vs 7 ms per full-text query, 1,000 chunks).
            tables = sorted({table for table, _ in INDEXES.values()})
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
            done.append(f"ANALYZE {', '.join(tables)}")
    return done
