"""VectorStore on pgvector (tables ``strata_vector_collection`` / ``strata_vector``).

Every call runs on ``django.db.connections[using]``, so it joins the caller's
``transaction.atomic()`` block.

- The column is ``VECTOR(1536)``: collections of another dimension are refused.
- Each collection gets its own PARTIAL HNSW index
  (``... USING hnsw (embedding <opclass>) WITH (m, ef_construction) WHERE collection_id = <id>``),
  so a search walks only that collection's graph. Queries therefore put the collection id in
  the SQL text as a literal (``psycopg.sql.Literal`` of an int read from the database): the
  planner can only pick a partial index when the predicate is a constant.
- pgvector < 0.8.2 has CVE-2026-3172 (buffer overflow in parallel HNSW builds); there the index
  is built with ``SET LOCAL max_parallel_maintenance_workers = 0`` (lasts until the end of the
  enclosing transaction).
- ``search`` sets ``hnsw.ef_search`` (``set_config(..., is_local => true)``, i.e. SET LOCAL) to
  ``max(STRATA_HNSW_EF_SEARCH, k)`` and, with a metadata filter, ``hnsw.iterative_scan =
  relaxed_order`` so a selective filter still yields k hits; the outer query re-sorts.
  On small collections the planner rightly prefers an exact scan plus sort.
- ``upsert`` is set-based: a binary COPY into a temporary staging table (the vectors encoded by
  pgvector-python's psycopg dumper, registered once per connection with ``register_vector``),
  then one ``INSERT ... SELECT ... ON CONFLICT (collection_id, key) DO UPDATE``. Its own cost is
  small; maintaining the HNSW graph is what bounds ingest speed.
- Locks: CREATE INDEX (create_collection) holds a SHARE lock and DROP INDEX (drop_collection) an
  ACCESS EXCLUSIVE lock on ``strata_vector`` until the caller's transaction ends, so keep
  collection creation/removal out of long transactions.
- Cosine collections refuse all-zero vectors (no direction; pgvector would return NaN).
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connections, transaction
from pgvector.psycopg import register_vector
from psycopg import sql

from core.storage import validation
from core.storage.ports import (
    CollectionConflict,
    InvalidInput,
    Metric,
    ModelMismatch,
    UnknownCollection,
    VectorCollection,
    VectorHit,
    VectorItem,
)
from core.storage.postgres.vector_input import (
    MAX_MODEL_LENGTH,
    OPCLASS,
    as_vector,
    collection_spec,
    filter_text,
    prepare_items,
)

MAX_K = 1000  # pgvector's upper bound for hnsw.ef_search
SAFE_PARALLEL_HNSW_BUILD = (0, 8, 2)  # first pgvector without CVE-2026-3172

_DISTANCE = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS strata_vector_staging (key text, embedding vector, metadata text) "
    "ON COMMIT DELETE ROWS; DELETE FROM pg_temp.strata_vector_staging"
)
_STAGE_COPY = "COPY pg_temp.strata_vector_staging (key, embedding, metadata) FROM STDIN (FORMAT BINARY)"
_STAGE_TYPES = ["text", "vector", "text"]
_UPSERT_FROM_STAGE = """
    INSERT INTO strata_vector (collection_id, key, embedding, metadata, updated_at)
    SELECT %s, key, embedding, metadata::jsonb, now() FROM pg_temp.strata_vector_staging
    ON CONFLICT (collection_id, key) DO UPDATE
    SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at
"""
_SEARCH = """
    SELECT key, metadata, distance FROM (
        SELECT key, metadata, embedding {op} %s::vector AS distance
        FROM strata_vector
        WHERE collection_id = {collection_id}{filter}
        ORDER BY distance
        LIMIT %s
    ) AS nearest
    ORDER BY distance, key
"""


@dataclass(frozen=True)
class _Collection:
    id: int
    spec: VectorCollection


def parallel_hnsw_build_is_safe(version: str | None) -> bool:
    """False for pgvector versions affected by CVE-2026-3172 (and for an unknown version)."""
    if not version:
        return False
    parts = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    return parts >= SAFE_PARALLEL_HNSW_BUILD


def hnsw_index_name(collection_id: int) -> str:
    return f"strata_vector_hnsw_{int(collection_id)}"


class PostgresVectorStore:
    """ports.VectorStore on the ``using`` database connection."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    # ------------------------------------------------------------ collections

    def create_collection(
        self, name: str, *, dimension: int, model: str, metric: Metric = "cosine"
    ) -> VectorCollection:
        spec = collection_spec(name, dimension=dimension, model=model, metric=metric)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO strata_vector_collection (name, dimension, model, metric, created_at) "
                "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (name) DO NOTHING RETURNING id",
                [spec.name, spec.dimension, spec.model, spec.metric],
            )
            row = cursor.fetchone()
            if row is None:
                existing = self._collection(cursor, spec.name).spec
                if existing != spec:
                    raise CollectionConflict(f"vector collection {spec.name!r} exists as {existing}, not {spec}")
                return existing
            self._create_index(cursor, row[0], spec.metric)
        return spec

    def get_collection(self, name: str) -> VectorCollection:
        name = validation.collection_name(name)
        with self._cursor() as cursor:
            return self._collection(cursor, name).spec

    def list_collections(self) -> list[VectorCollection]:
        with self._cursor() as cursor:
            cursor.execute("SELECT name, dimension, model, metric FROM strata_vector_collection ORDER BY name")
            return [VectorCollection(*row) for row in cursor.fetchall()]

    def drop_collection(self, name: str) -> None:
        """Drop the collection's index, vectors and row; a no-op when it does not exist."""
        name = validation.collection_name(name)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute("SELECT id FROM strata_vector_collection WHERE name = %s FOR UPDATE", [name])
            row = cursor.fetchone()
            if row is None:
                return
            index = sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(hnsw_index_name(row[0])))
            cursor.execute(index.as_string())
            cursor.execute("DELETE FROM strata_vector WHERE collection_id = %s", [row[0]])
            cursor.execute("DELETE FROM strata_vector_collection WHERE id = %s", [row[0]])

    # ------------------------------------------------------------ writes

    def upsert(self, collection: str, items: Iterable[VectorItem], *, model: str) -> int:
        """Insert or replace by key (a key repeated in ``items`` keeps its last item)."""
        target = self._checked_collection(collection, model=model)
        keys, matrix, metadata = prepare_items(items, target.spec)
        if not keys:
            return 0
        # After the query above: inside the caller's transaction the type lookup then runs in a
        # savepoint (psycopg's conn.transaction()), never as a transaction of its own.
        self._register_vector_type()
        # Everything is validated above, so no savepoint (it costs a round trip per call): a
        # database error here is unexpected and marks the caller's transaction for rollback.
        with transaction.atomic(using=self.using, savepoint=False), self._cursor() as cursor:
            cursor.execute(_STAGE_DDL)
            # the raw psycopg COPY: its errors raised as Django's, like the cursor's own
            with cursor.db.wrap_database_errors, cursor.cursor.copy(_STAGE_COPY) as copy:
                copy.set_types(_STAGE_TYPES)
                for row in zip(keys, matrix, metadata, strict=True):
                    copy.write_row(row)
            cursor.execute(_UPSERT_FROM_STAGE, [target.id])
        return len(keys)

    def delete(self, collection: str, keys: Iterable[str]) -> int:
        collection = validation.collection_name(collection)
        keys = validation.record_keys(keys, what="key")
        with self._cursor() as cursor:
            target = self._collection(cursor, collection)
            cursor.execute(
                "DELETE FROM strata_vector WHERE collection_id = %s AND key = ANY(%s::text[])", [target.id, keys]
            )
            return cursor.rowcount

    def delete_where(self, collection: str, filter: Mapping[str, Any]) -> int:
        """Delete the vectors whose metadata contains ``filter`` (an empty filter is refused:
        use drop_collection to empty a collection)."""
        collection = validation.collection_name(collection)
        condition = filter_text(filter)
        if condition == "{}":
            raise InvalidInput("delete_where needs a non-empty filter; use drop_collection to remove everything")
        with self._cursor() as cursor:
            target = self._collection(cursor, collection)
            cursor.execute(
                "DELETE FROM strata_vector WHERE collection_id = %s AND metadata @> %s::jsonb", [target.id, condition]
            )
            return cursor.rowcount

    # ------------------------------------------------------------ reads

    def get(self, collection: str, key: str) -> VectorItem | None:
        collection = validation.collection_name(collection)
        key = validation.record_key(key, what="key")
        with self._cursor() as cursor:
            target = self._collection(cursor, collection)
            cursor.execute(
                "SELECT embedding::real[], metadata FROM strata_vector WHERE collection_id = %s AND key = %s",
                [target.id, key],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return VectorItem(key=key, vector=list(row[0]), metadata=json.loads(row[1]))

    def count(self, collection: str, *, filter: Mapping[str, Any] | None = None) -> int:
        collection = validation.collection_name(collection)
        condition = None if filter is None else filter_text(filter)
        with self._cursor() as cursor:
            target = self._collection(cursor, collection)
            if condition is None:
                cursor.execute("SELECT count(*) FROM strata_vector WHERE collection_id = %s", [target.id])
            else:
                cursor.execute(
                    "SELECT count(*) FROM strata_vector WHERE collection_id = %s AND metadata @> %s::jsonb",
                    [target.id, condition],
                )
            return cursor.fetchone()[0]

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        model: str,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
    ) -> list[VectorHit]:
        target = self._checked_collection(collection, model=model)
        query_vector = as_vector(vector, target.spec, what="query vector")
        k = validation.bounded_int(k, what="k", low=1, high=MAX_K)
        condition = None if filter is None else filter_text(filter)
        query = _search_sql(target, filtered=condition is not None)
        params = [_vector_literal(query_vector), *([condition] if condition is not None else []), k]
        ef_search = min(MAX_K, max(int(settings.STRATA_HNSW_EF_SEARCH), k))
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            # enable_sort = off: the planner does not cost the TOASTed 1536-d vectors, so at ~100k
            # rows (or with stale statistics after a bulk load) it picks a scan + top-N sort over
            # the whole collection (~300 ms) instead of the HNSW index (~2 ms); measured in
            # bench/content_bench.py.
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true), "
                "set_config('enable_sort', 'off', true)",
                [str(ef_search), "relaxed_order" if condition is not None else "off"],
            )
            cursor.execute(query, params)
            rows = cursor.fetchall()
        return [_hit(key, metadata, distance, target.spec.metric) for key, metadata, distance in rows]

    # ------------------------------------------------------------ helpers

    def _checked_collection(self, name: str, *, model: str) -> _Collection:
        """The collection (with its database id), checked against the caller's embedding model."""
        name = validation.collection_name(name)
        model = validation.text(model, what="model", max_length=MAX_MODEL_LENGTH)
        with self._cursor() as cursor:
            target = self._collection(cursor, name)
        if target.spec.model != model:
            raise ModelMismatch(
                f"vector collection {name!r} holds embeddings of model {target.spec.model!r}, got model {model!r}"
            )
        return target

    def _register_vector_type(self) -> None:
        """Teach the psycopg connection pgvector's types (one catalog lookup per connection;
        cursors copy the connection's adapters when they are created, so call this first)."""
        wrapper = connections[self.using]
        wrapper.ensure_connection()
        if wrapper.connection not in _VECTOR_TYPES_REGISTERED:
            register_vector(wrapper.connection)
            _VECTOR_TYPES_REGISTERED.add(wrapper.connection)

    def _cursor(self):
        return connections[self.using].cursor()

    @staticmethod
    def _collection(cursor, name: str) -> _Collection:
        cursor.execute(
            "SELECT id, name, dimension, model, metric FROM strata_vector_collection WHERE name = %s", [name]
        )
        row = cursor.fetchone()
        if row is None:
            raise UnknownCollection(f"vector collection {name!r} does not exist")
        return _Collection(id=row[0], spec=VectorCollection(*row[1:]))

    @staticmethod
    def _create_index(cursor, collection_id: int, metric: str) -> None:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        if not parallel_hnsw_build_is_safe(row[0] if row else None):
            cursor.execute("SET LOCAL max_parallel_maintenance_workers = 0")  # CVE-2026-3172
        statement = sql.SQL(
            "CREATE INDEX {index} ON strata_vector USING hnsw (embedding {opclass}) "
            "WITH (m = {m}, ef_construction = {ef_construction}) WHERE collection_id = {collection_id}"
        ).format(
            index=sql.Identifier(hnsw_index_name(collection_id)),
            opclass=sql.SQL(OPCLASS[metric]),
            m=sql.Literal(int(settings.STRATA_HNSW_M)),
            ef_construction=sql.Literal(int(settings.STRATA_HNSW_EF_CONSTRUCTION)),
            collection_id=sql.Literal(int(collection_id)),
        )
        _fire_deferred_foreign_key_checks(cursor)
        cursor.execute(statement.as_string())


#: psycopg connections that already know pgvector's types (a connection is registered once).
_VECTOR_TYPES_REGISTERED: weakref.WeakSet = weakref.WeakSet()


def _fire_deferred_foreign_key_checks(cursor) -> None:
    """Run the deferred FK checks queued by earlier writes to strata_vector in this transaction.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, and PostgreSQL refuses CREATE INDEX
    on a table with pending trigger events ("cannot CREATE INDEX ... because it has pending
    trigger events"), e.g. when one transaction upserts vectors and then creates a collection.
    Switching the constraints to IMMEDIATE runs the queued checks now; they are then deferred
    again, as Django declared them.
    """
    cursor.execute(
        "SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'strata_vector'::regclass AND contype = 'f' AND condeferred ORDER BY conname"
    )
    constraints = [sql.Identifier(row[0]) for row in cursor.fetchall()]
    if constraints:
        names = sql.SQL(", ").join(constraints)
        cursor.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(names).as_string())
        cursor.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(names).as_string())


# ---------------------------------------------------------------- SQL building


def _search_sql(target: _Collection, *, filtered: bool) -> str:
    return (
        sql.SQL(_SEARCH)
        .format(
            op=sql.SQL(_DISTANCE[target.spec.metric]),
            collection_id=sql.Literal(int(target.id)),
            filter=sql.SQL(" AND metadata @> %s::jsonb" if filtered else ""),
        )
        .as_string()
    )


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def _hit(key: str, metadata: str, distance: float, metric: str) -> VectorHit:
    distance = float(distance)
    score = 1.0 - distance if metric == "cosine" else -distance
    return VectorHit(key=key, score=score, distance=distance, metadata=json.loads(metadata))
