"""Each workspace's own BM25 indexes, so its full-text cost and scores do not depend on other
workspaces' data.

pg_textsearch 1.0 cannot scope an index to a workspace with a partial index (its build ignores the
predicate and the planner then drops the workspace filter: other workspaces' rows come back, see
``content.bm25``). So a workspace gets two small tables of its own, ``content_bm25_chunk_w<N>``
(chunk id, text) and ``content_bm25_title_w<N>`` (document id, title), each with a BM25 index:
its term statistics (IDF, average length) are the workspace's alone, and a query reads only the
workspace's rows. Triggers (migration 0005) keep them in step with ``content_chunk`` and
``content_document`` inside the writing transaction. Until a workspace has them, its full-text
search ranks with the table-wide indexes (``content.bm25``).

``ensure()`` creates them: from ``manage.py fulltext_index`` and from the outbox handler of a
workspace's ingest (``content.handlers``, outside the relay's transaction). It runs in one short
transaction that holds a SHARE lock on the two tables while it copies the workspace's rows (writes
wait, about 0.1 s per 1,000 chunks).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from psycopg import sql

from content import bm25
from content.models import Chunk, Document

# kind: (model, its columns copied as the table's (id, [document_id,] body))
KINDS = {"chunk": (Chunk, ("document_id", "text")), "title": (Document, ("title",))}
#: workspace id -> its indexes, for the workspaces seen with them (tables are never renamed; a
#: dropped one is noticed by ``indexes_for(..., fresh=True)`` and by search errors' fallback).
_known: dict[tuple[str, int], WorkspaceIndexes] = {}


@dataclass(frozen=True)
class WorkspaceIndexes:
    chunk_table: str
    chunk_index: str
    title_table: str
    title_index: str


def names(workspace_id: int) -> WorkspaceIndexes:
    n = int(workspace_id)
    return WorkspaceIndexes(
        chunk_table=f"content_bm25_chunk_w{n}",
        chunk_index=f"content_bm25_chunk_w{n}_bm25",
        title_table=f"content_bm25_title_w{n}",
        title_index=f"content_bm25_title_w{n}_bm25",
    )


def _present(cursor, workspace_id: int) -> bool:
    own = names(workspace_id)
    cursor.execute(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(%s)",
        [[own.chunk_index, own.title_index]],
    )
    return cursor.fetchone()[0] == 2


def indexes_for(workspace_id: int) -> WorkspaceIndexes | None:
    """The workspace's own indexes when both exist and answer (not stale after a restart), else None."""
    key = (str(connection.settings_dict.get("NAME")), int(workspace_id))
    if key in _known:
        return _known[key]
    own = names(workspace_id)
    with connection.cursor() as cursor:
        if not _present(cursor, workspace_id):
            return None
        if any(bm25._is_stale(cursor, index) for index in (own.chunk_index, own.title_index)):
            return None
    _known[key] = own
    return own


def forget() -> None:
    """Drop the process's memory of which workspaces have indexes (tests, after DROP)."""
    _known.clear()


def ensure(workspace_id: int, *, rebuild: bool = False) -> list[str]:
    """Create the workspace's tables and indexes when missing (copying its chunks and titles), or
    rebuild them when stale (or ``rebuild``). Needs pg_textsearch preloaded and its extension;
    returns what was done. Run it outside a long transaction (index DDL)."""
    state = bm25.status()
    if not (state["library"] and state["extension"]):
        return []
    own = names(workspace_id)
    done: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        if _present(cursor, workspace_id):
            stale = [i for i in (own.chunk_index, own.title_index) if rebuild or bm25._is_stale(cursor, i)]
            for index in stale:
                cursor.execute(sql.SQL("REINDEX INDEX {}").format(sql.Identifier(index)))
                done.append(f"REINDEX {index}")
            return done
        # Writers wait until the copy commits; after it the triggers keep the tables current.
        cursor.execute(
            sql.SQL("LOCK TABLE {}, {} IN SHARE MODE").format(
                sql.Identifier(Chunk._meta.db_table), sql.Identifier(Document._meta.db_table)
            )
        )
        for kind, (model, columns) in KINDS.items():
            table, index = getattr(own, f"{kind}_table"), getattr(own, f"{kind}_index")
            document = sql.SQL("document_id bigint NOT NULL, " if kind == "chunk" else "")
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            cursor.execute(
                sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, {}body text NOT NULL)").format(
                    sql.Identifier(table), document
                )
            )
            targets = ["id", *(["document_id"] if kind == "chunk" else []), "body"]
            cursor.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT id, {} FROM {} WHERE workspace_id = %s").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, targets)),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.Identifier(model._meta.db_table),
                ),
                [int(workspace_id)],
            )
            cursor.execute(
                sql.SQL("CREATE INDEX {} ON {} USING bm25 (body) WITH (text_config = 'english')").format(
                    sql.Identifier(index), sql.Identifier(table)
                )
            )
            # planner statistics now: without them PostgreSQL scores every row outside the index
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            done.append(f"CREATE INDEX {index}")
    return done


def refresh_statistics(workspace_id: int) -> list[str]:
    """ANALYZE the workspace's own tables whose row count moved well away from the planner's
    estimate (grown by more than a fifth plus 100 rows, or shrunk by half); what was analyzed.

    The triggers grow the tables on every ingest, and autovacuum analyzes them only a while
    later: until then a query planned for the first batch's 500 rows reads a workspace of 10,000
    (measured: 98 ms per knowledge retrieval instead of 20 ms right after a bulk ingest). Called by
    the ingest event's handler, outside the relay's transaction; a count of two small tables."""
    own = names(workspace_id)
    analyzed = []
    with connection.cursor() as cursor:
        for table in (own.chunk_table, own.title_table):
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
            found = cursor.fetchone()
            if found is None:
                continue
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            rows, estimate = cursor.fetchone()[0], max(float(found[0]), 0.0)
            if rows > estimate * 1.2 + 100 or rows < estimate / 2:
                cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
                analyzed.append(table)
    return analyzed


def drop(workspace_id: int) -> None:
    """Drop the workspace's tables (the workspace is gone, or to fall back to the shared indexes)."""
    own = names(workspace_id)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP TABLE IF EXISTS {}, {}").format(
                sql.Identifier(own.chunk_table), sql.Identifier(own.title_table)
            )
        )
    forget()


def workspaces_with_chunks() -> list[int]:
    """Workspaces holding chunks (with or without indexes of their own)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT workspace_id FROM content_chunk ORDER BY 1")
        return [int(row[0]) for row in cursor.fetchall()]


def summary() -> dict[str, int]:
    """``own``: workspaces with their own BM25 indexes; ``shared``: workspaces with chunks still
    ranked by the table-wide ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE to_regclass('content_bm25_chunk_w' || w) IS NOT NULL), "
            "count(*) FILTER (WHERE to_regclass('content_bm25_chunk_w' || w) IS NULL) "
            "FROM (SELECT DISTINCT workspace_id AS w FROM content_chunk) ws"
        )
        own, shared = cursor.fetchone()
    return {"own": int(own), "shared": int(shared)}
