"""DocumentStore on PostgreSQL JSONB (tables ``strata_document_collection`` / ``strata_document``).

Every call runs on ``django.db.connections[using]``. On ``default`` (the usual setting) it joins
the caller's ``transaction.atomic()`` block: a rollback there undoes the document writes too
(``features.joins_db_transaction``). On another alias, e.g. the dedicated ``documents`` database
(``core.db.router``), it commits on its own, outside the caller's transaction.

Queries:
- ``where``/``contains`` are compiled by ``core.storage.postgres.filters`` (JSON containment,
  served by the ``jsonb_path_ops`` GIN index on ``body``, and jsonpath with parameters).
- ``path`` is an SQL/JSON path query evaluated with ``body @? %s::jsonpath`` ("does the path
  return any item"), PostgreSQL's optional capability (``features.supports_path_queries``).
  The port's paths are filter queries such as ``$.tags[*] ? (@ == "ai")``, which is exactly
  what ``@?`` evaluates; the GIN index serves the equality conditions inside the path.
- Results are ordered by id; the unique ``(collection_id, key)`` btree serves that order, and
  ``scan`` pages by id (keyset: the cursor is the last id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from psycopg import sql

from core.storage import filters
from core.storage.ports import DocumentFeatures, DocumentStore, InvalidInput, Page, StoredDocument, UnknownCollection
from core.storage.ports.errors import StorageError
from core.storage.postgres.errors import map_database_error
from core.storage.postgres.filters import compile_filter

# put_many sends documents in batches of at most this many bytes of JSON (all in one transaction).
BATCH_BYTES = 16 * 1024 * 1024
# SQLSTATE classes that a caller's JSON path causes (see _execute_path_query).
_CALLER_PATH_ERRORS = frozenset({"22", "42", "54"})

_UPSERT_ONE = """
    INSERT INTO strata_document (collection_id, key, body, created_at, updated_at)
    SELECT c.id, %s, %s::jsonb, now(), now() FROM strata_document_collection c WHERE c.name = %s
    ON CONFLICT (collection_id, key) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
"""
_UPSERT_BATCH = """
    INSERT INTO strata_document (collection_id, key, body, created_at, updated_at)
    SELECT %s, r.id, r.body, now(), now() FROM jsonb_to_recordset(%s::jsonb) AS r(id text, body jsonb)
    ON CONFLICT (collection_id, key) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
"""
_BODY = sql.SQL("body")


class PostgresDocumentStore(DocumentStore):
    """ports.DocumentStore on the ``using`` database connection."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.features = DocumentFeatures(
            joins_db_transaction=using == DEFAULT_DB_ALIAS, vendor="postgresql", supports_path_queries=True
        )

    def __repr__(self) -> str:
        return f"PostgresDocumentStore(using={self.using!r})"

    def _map_error(self, error: Exception) -> StorageError | None:
        return map_database_error(error, self.using)

    # ------------------------------------------------------------ collections

    def _do_create_collection(self, name: str) -> None:
        with self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO strata_document_collection (name, created_at) VALUES (%s, now()) "
                "ON CONFLICT (name) DO NOTHING",
                [name],
            )

    def _do_drop_collection(self, name: str) -> None:
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute("SELECT id FROM strata_document_collection WHERE name = %s FOR UPDATE", [name])
            row = cursor.fetchone()
            if row is None:
                return
            cursor.execute("DELETE FROM strata_document WHERE collection_id = %s", [row[0]])
            cursor.execute("DELETE FROM strata_document_collection WHERE id = %s", [row[0]])

    # ------------------------------------------------------------ writes

    def _do_put_many(self, collection: str, bodies: dict[str, str]) -> None:
        if len(bodies) == 1:
            [(doc_id, body)] = bodies.items()
            with self._cursor() as cursor:
                cursor.execute(_UPSERT_ONE, [doc_id, body, collection])
                if cursor.rowcount == 0:
                    raise UnknownCollection(f"document collection {collection!r} does not exist")
            return
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            for batch in _batches(bodies):
                cursor.execute(_UPSERT_BATCH, [collection_id, batch])

    def _do_delete_many(self, collection: str, doc_ids: list[str]) -> int:
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            cursor.execute(
                "DELETE FROM strata_document WHERE collection_id = %s AND key = ANY(%s::text[])",
                [collection_id, doc_ids],
            )
            return cursor.rowcount

    # ------------------------------------------------------------ reads

    def _do_get_many(self, collection: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        with self._cursor() as cursor:
            # One round trip: no row at all means the collection does not exist.
            cursor.execute(
                "SELECT c.id, d.key, d.body FROM strata_document_collection c "
                "LEFT JOIN strata_document d ON d.collection_id = c.id AND d.key = ANY(%s::text[]) "
                "WHERE c.name = %s",
                [doc_ids, collection],
            )
            rows = cursor.fetchall()
        if not rows:
            raise UnknownCollection(f"document collection {collection!r} does not exist")
        return {key: json.loads(body) for _, key, body in rows if key is not None}

    def _do_find(
        self,
        collection: str,
        condition: filters.Filter | None,
        path: str | None,
        *,
        limit: int | None,
        offset: int,
        bodies: bool,
    ) -> list[tuple[str, dict[str, Any] | None]]:
        where, params = _where(condition, path)
        query = sql.SQL(
            "SELECT {columns} FROM strata_document WHERE collection_id = %s{where} ORDER BY key LIMIT %s OFFSET %s"
        ).format(columns=sql.SQL("key, body" if bodies else "key, NULL"), where=where)
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            args = [collection_id, *params, limit, offset]
            if path is None:
                cursor.execute(query.as_string(), args)
                rows = cursor.fetchall()
            else:
                rows = self._execute_path_query(cursor, query.as_string(), args, path)
        return [(key, None if body is None else json.loads(body)) for key, body in rows]

    def _do_count(self, collection: str, condition: filters.Filter | None) -> int:
        where, params = _where(condition, None)
        query = sql.SQL("SELECT count(*) FROM strata_document WHERE collection_id = %s{where}").format(where=where)
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            cursor.execute(query.as_string(), [collection_id, *params])
            return cursor.fetchone()[0]

    def _do_scan(self, collection: str, after: str | None, limit: int) -> Page[StoredDocument]:
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            cursor.execute(
                "SELECT key, body FROM strata_document WHERE collection_id = %s AND (%s::text IS NULL OR key > %s) "
                "ORDER BY key LIMIT %s",
                [collection_id, after, after, limit + 1],
            )
            rows = cursor.fetchall()
        items = [StoredDocument(id=key, body=json.loads(body)) for key, body in rows[:limit]]
        return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)

    # ------------------------------------------------------------ helpers

    def _cursor(self):
        return connections[self.using].cursor()

    @staticmethod
    def _collection_id(cursor, name: str) -> int:
        cursor.execute("SELECT id FROM strata_document_collection WHERE name = %s", [name])
        row = cursor.fetchone()
        if row is None:
            raise UnknownCollection(f"document collection {name!r} does not exist")
        return row[0]

    def _execute_path_query(self, cursor, query: str, args: list[Any], path: str) -> list[tuple]:
        """Run a query holding a caller's JSON path in a savepoint, so a bad path raises
        InvalidInput and leaves the caller's transaction usable."""
        try:
            with transaction.atomic(using=self.using):
                cursor.execute(query, args)
                return cursor.fetchall()
        except DatabaseError as exc:
            sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
            # 22: data exception (bad syntax, bad regex), 42: syntax error or undefined object (a
            # $variable the path names but nobody passed), 54: program limit (nested too deeply)
            if sqlstate[:2] in _CALLER_PATH_ERRORS:
                message = getattr(getattr(exc.__cause__, "diag", None), "message_primary", None) or str(exc)
                raise InvalidInput(f"invalid JSON path {path!r}: {message}") from exc
            raise


def _batches(bodies: dict[str, str]) -> Iterator[str]:
    """JSON arrays of ``{"id": ..., "body": ...}`` objects, each at most about BATCH_BYTES."""
    batch: list[str] = []
    size = 0
    for doc_id, body in bodies.items():
        item = f'{{"id":{json.dumps(doc_id, ensure_ascii=False)},"body":{body}}}'
        if batch and size + len(item) > BATCH_BYTES:
            yield "[" + ",".join(batch) + "]"
            batch, size = [], 0
        batch.append(item)
        size += len(item)
    if batch:
        yield "[" + ",".join(batch) + "]"


def _where(condition: filters.Filter | None, path: str | None) -> tuple[sql.Composable, list[Any]]:
    """`` AND ...`` conditions (static SQL) and their parameters."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if condition is not None:
        compiled, params = compile_filter(condition, _BODY)
        conditions.append(compiled)
    if path is not None:
        conditions.append(sql.SQL("body @? %s::jsonpath"))
        params.append(path)
    return sql.SQL("").join(sql.SQL(" AND ") + c for c in conditions), params
