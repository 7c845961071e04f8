"""A batch's chunk rows, written inside its transaction (content/ingest.py): a changed
document's old chunks dropped, the new ones inserted with their full-text vectors in one
set-based statement, those whose vectors go with them carrying the embedding model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Model
from psycopg import sql as psycopg_sql

from content import embedding
from content.chunking import ChunkSpan
from content.models import Chunk

DB_BATCH = 2000


def drop_old_chunks(changed_ids: list[int]) -> list[int]:
    """A changed document's old chunks; returns their ids (the event has their vectors deleted)."""
    if not changed_ids:
        return []
    old = list(Chunk.objects.filter(document_id__in=changed_ids).order_by("id").values_list("id", flat=True))
    if old:
        Chunk.objects.filter(document_id__in=changed_ids).delete()
    return old


_INSERT_CHUNKS = """
    INSERT INTO {table} ({id_column} workspace_id, document_id, ordinal, text, start_offset, end_offset, token_count,
                         embedding_model, embedded_at, search_vector)
    SELECT {id_value} %s, t.document_id, t.ordinal, t.text,
           t.start_offset, t.end_offset, t.token_count,
           CASE WHEN t.carried THEN %s ELSE '' END, CASE WHEN t.carried THEN %s::timestamptz END,
           setweight(to_tsvector('english'::regconfig, t.title), 'A')
           || setweight(to_tsvector('english'::regconfig, t.text), 'B')
    FROM unnest(%s::bigint[], %s::integer[], %s::text[], %s::integer[], %s::integer[], %s::integer[], %s::text[],
                %s::boolean[], %s::bigint[])
         AS t(document_id, ordinal, text, start_offset, end_offset, token_count, title, carried, id)
    RETURNING id, document_id, ordinal
"""


def insert_chunks(
    workspace_id: int,
    chunks: Sequence[tuple[int, str, int, ChunkSpan]],
    *,
    model: str,
    carried: set[int],
    embedded_at: datetime,
    ids: dict[int, list[int]] | None = None,
) -> list[tuple[int, int, str]]:
    """Insert ``(document_id, title, ordinal, span)`` chunks with their full-text vectors (title
    weight A, text B) in one set-based statement, those of the ``carried`` documents carrying
    ``model`` (embedded at ``embedded_at``), those of documents in ``ids`` (document id -> a
    chunk id per ordinal, allocated ahead: content/ingest_ahead.py) with those ids; returns
    ``(chunk_id, document_id, text)``.

    (The ORM's bulk_create would compile a SearchVector expression per row, which costs more
    than the whole insert.)"""
    ids = ids or {}
    table = Chunk._meta.db_table
    statement = psycopg_sql.SQL(_INSERT_CHUNKS).format(
        table=psycopg_sql.Identifier(table),
        # ids allocated ahead, the others from the sequence (one lookup of its name per statement)
        id_column=psycopg_sql.SQL("id," if ids else ""),
        id_value=psycopg_sql.SQL(
            "COALESCE(t.id, nextval((SELECT pg_get_serial_sequence({}, 'id'))::regclass)),"
        ).format(psycopg_sql.Literal(table))
        if ids
        else psycopg_sql.SQL(""),
    )
    texts = {(doc_id, ordinal): span.text for doc_id, _, ordinal, span in chunks}
    rows: list[tuple[int, int, str]] = []
    with connection.cursor() as cursor:
        for batch in embedding.batches(chunks, DB_BATCH):
            cursor.execute(
                statement.as_string(connection.connection),
                [
                    workspace_id,
                    model,
                    embedded_at,
                    [doc_id for doc_id, _, _, _ in batch],
                    [ordinal for _, _, ordinal, _ in batch],
                    [span.text for _, _, _, span in batch],
                    [span.start for _, _, _, span in batch],
                    [span.end for _, _, _, span in batch],
                    [span.token_count for _, _, _, span in batch],
                    [title for _, title, _, _ in batch],
                    [doc_id in carried for doc_id, _, _, _ in batch],
                    [ids[doc_id][ordinal] if doc_id in ids else None for doc_id, _, ordinal, _ in batch],
                ],
            )
            rows.extend((chunk_id, doc_id, texts[doc_id, ordinal]) for chunk_id, doc_id, ordinal in cursor.fetchall())
    rows.sort()
    return rows


def allocate_ids(model: type[Model], count: int) -> list[int]:
    """``count`` new ids from the sequence of ``model``'s table (never handed out again)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]
