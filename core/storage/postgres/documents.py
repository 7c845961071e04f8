"""DocumentStore on PostgreSQL JSONB (tables ``strata_document_collection`` / ``strata_document``).

Every call runs on ``django.db.connections[using]``, so it joins the caller's
``transaction.atomic()`` block: a rollback there undoes the document writes too.

Queries:
- ``contains`` is JSON containment, ``body @> %s::jsonb``.
- ``path`` is an SQL/JSON path query evaluated with ``body @? %s::jsonpath`` ("does the path
  return any item"). The port's paths are filter queries such as ``$.tags[*] ? (@ == "ai")``,
  which is exactly what ``@?`` evaluates (``@@`` wants a predicate such as
  ``$.tags[*] == "ai"``). Both operators are supported by the ``jsonb_path_ops`` GIN index on
  ``body``, which serves the equality conditions inside the path; other conditions are
  checked on the rows the index (or a scan) returns.
- Results are ordered by id; the unique ``(collection_id, key)`` btree serves that order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from psycopg import sql

from core.storage import validation
from core.storage.ports import InvalidInput, StoredDocument, UnknownCollection

# put_many sends documents in batches of at most this many bytes of JSON (all in one transaction).
BATCH_BYTES = 16 * 1024 * 1024
MAX_PATH_LENGTH = 4096
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


class PostgresDocumentStore:
    """ports.DocumentStore on the ``using`` database connection."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    # ------------------------------------------------------------ collections

    def create_collection(self, name: str) -> None:
        name = validation.collection_name(name)
        with self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO strata_document_collection (name, created_at) VALUES (%s, now()) "
                "ON CONFLICT (name) DO NOTHING",
                [name],
            )

    def drop_collection(self, name: str) -> None:
        """Delete the collection and its documents; a no-op when it does not exist."""
        name = validation.collection_name(name)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute("SELECT id FROM strata_document_collection WHERE name = %s FOR UPDATE", [name])
            row = cursor.fetchone()
            if row is None:
                return
            cursor.execute("DELETE FROM strata_document WHERE collection_id = %s", [row[0]])
            cursor.execute("DELETE FROM strata_document_collection WHERE id = %s", [row[0]])

    # ------------------------------------------------------------ writes

    def put(self, collection: str, doc_id: str, document: Mapping[str, Any] | str | bytes) -> None:
        collection = validation.collection_name(collection)
        doc_id = validation.record_key(doc_id)
        body = _document_text(document)
        with self._cursor() as cursor:
            cursor.execute(_UPSERT_ONE, [doc_id, body, collection])
            if cursor.rowcount == 0:
                raise UnknownCollection(f"document collection {collection!r} does not exist")

    def put_many(self, collection: str, documents: Iterable[tuple[str, Mapping[str, Any] | str | bytes]]) -> int:
        """Validate every document, then upsert them set-based; a repeated id keeps its last document."""
        collection = validation.collection_name(collection)
        bodies = _validated_documents(documents)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            for batch in _batches(bodies):
                cursor.execute(_UPSERT_BATCH, [collection_id, batch])
        return len(bodies)

    def delete(self, collection: str, doc_id: str) -> bool:
        return self.delete_many(collection, [validation.record_key(doc_id)]) == 1

    def delete_many(self, collection: str, doc_ids: Iterable[str]) -> int:
        collection = validation.collection_name(collection)
        keys = validation.record_keys(doc_ids)
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            cursor.execute(
                "DELETE FROM strata_document WHERE collection_id = %s AND key = ANY(%s::text[])", [collection_id, keys]
            )
            return cursor.rowcount

    # ------------------------------------------------------------ reads

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        doc_id = validation.record_key(doc_id)
        return self.get_many(collection, [doc_id]).get(doc_id)

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        collection = validation.collection_name(collection)
        keys = validation.record_keys(doc_ids)
        with self._cursor() as cursor:
            # One round trip: no row at all means the collection does not exist.
            cursor.execute(
                "SELECT c.id, d.key, d.body FROM strata_document_collection c "
                "LEFT JOIN strata_document d ON d.collection_id = c.id AND d.key = ANY(%s::text[]) "
                "WHERE c.name = %s",
                [keys, collection],
            )
            rows = cursor.fetchall()
        if not rows:
            raise UnknownCollection(f"document collection {collection!r} does not exist")
        return {key: json.loads(body) for _, key, body in rows if key is not None}

    def find(
        self,
        collection: str,
        *,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        limit = validation.non_negative_int(limit, what="limit")
        offset = validation.non_negative_int(offset, what="offset")
        rows = self._select(collection, "key, body", contains=contains, path=path, limit=limit, offset=offset)
        return [StoredDocument(id=key, body=json.loads(body)) for key, body in rows]

    def find_ids(
        self,
        collection: str,
        *,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        if limit is not None:
            limit = validation.non_negative_int(limit, what="limit")
        return [key for (key,) in self._select(collection, "key", contains=contains, path=path, limit=limit)]

    def count(self, collection: str, *, contains: Mapping[str, Any] | None = None) -> int:
        collection = validation.collection_name(collection)
        where, params = _filters(contains=contains, path=None)
        query = sql.SQL("SELECT count(*) FROM strata_document WHERE collection_id = %s{where}").format(where=where)
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            cursor.execute(query.as_string(), [collection_id, *params])
            return cursor.fetchone()[0]

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

    def _select(
        self,
        collection: str,
        columns: str,
        *,
        contains: Mapping[str, Any] | None,
        path: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[tuple]:
        collection = validation.collection_name(collection)
        where, params = _filters(contains=contains, path=path)
        query = sql.SQL(
            "SELECT {columns} FROM strata_document WHERE collection_id = %s{where} ORDER BY key LIMIT %s OFFSET %s"
        ).format(columns=sql.SQL(columns), where=where)
        with self._cursor() as cursor:
            collection_id = self._collection_id(cursor, collection)
            args = [collection_id, *params, limit, offset]
            if path is None:
                cursor.execute(query.as_string(), args)
                return cursor.fetchall()
            return self._execute_path_query(cursor, query.as_string(), args, path)

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


def _document_text(document: Any) -> str:
    return validation.json_object_text(document, what="document", max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES)


def _validated_documents(documents: Iterable[tuple[str, Any]]) -> dict[str, str]:
    if isinstance(documents, str | bytes | Mapping):
        raise InvalidInput("documents must be an iterable of (id, document) pairs")
    bodies: dict[str, str] = {}
    for position, pair in enumerate(documents):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidInput(f"documents[{position}] is not an (id, document) pair")
        doc_id = validation.record_key(pair[0])
        bodies.pop(doc_id, None)  # the last document for an id wins
        bodies[doc_id] = _document_text(pair[1])
    return bodies


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


def _filters(*, contains: Mapping[str, Any] | None, path: str | None) -> tuple[sql.Composable, list[Any]]:
    """`` AND ...`` conditions (static SQL) and their parameters."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if contains is not None:
        conditions.append(sql.SQL("body @> %s::jsonb"))
        params.append(
            validation.json_object_text(
                contains, what="containment filter", max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES
            )
        )
    if path is not None:
        conditions.append(sql.SQL("body @? %s::jsonpath"))
        params.append(validation.text(path, what="JSON path", max_length=MAX_PATH_LENGTH))
    return sql.SQL("").join(sql.SQL(" AND ") + condition for condition in conditions), params
