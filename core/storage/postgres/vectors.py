"""VectorStore on pgvector (tables ``strata_vector_collection`` / ``strata_vector``).

Every call runs on ``django.db.connections[using]``, so on ``default`` it joins the caller's
``transaction.atomic()`` block (``features.joins_db_transaction``).

- The column is ``VECTOR(1536)``: collections of another dimension are refused.
- Each collection gets its own PARTIAL HNSW index
  (``... USING hnsw (embedding <opclass>) WITH (m, ef_construction) WHERE collection_id = <id>``),
  so a search walks only that collection's graph. Queries therefore put the collection id in
  the SQL text as a literal (``psycopg.sql.Literal`` of an int read from the database): the
  planner can only pick a partial index when the predicate is a constant.
- pgvector < 0.8.2 has CVE-2026-3172 (buffer overflow in parallel HNSW builds); there the index
  is built with ``SET LOCAL max_parallel_maintenance_workers = 0`` (lasts until the end of the
  enclosing transaction).
- ``search`` runs the statement of ``vector_query`` (custom plans only; a filter planned by a
  capped count of its matches: none, a selective one by exact distance, a broad one by HNSW with
  ``hnsw.iterative_scan = relaxed_order``), with ``hnsw.ef_search`` chosen by the collection's
  size (``core.storage.hnsw``: its index's ``reltuples``; ``STRATA_HNSW_EF_SEARCH`` overrides), at
  least k. The settings, the query and the transaction (or savepoint) around them go out in one
  round trip, with the query vector as a binary parameter and never as a prepared statement;
  the settings are undone after the query, even inside the caller's transaction (``pipelined.py``).
- ``upsert`` is set-based: a binary COPY into a temporary staging table (the vectors encoded by
  pgvector-python's psycopg dumper, registered once per connection with ``register_vector``),
  then one ``INSERT ... SELECT ... ON CONFLICT (collection_id, key) DO UPDATE``. Its own cost is
  small; maintaining the HNSW graph is what bounds ingest speed.
- Locks: CREATE INDEX (create_collection) holds a SHARE lock and DROP INDEX (drop_collection) an
  ACCESS EXCLUSIVE lock on ``strata_vector`` until the caller's transaction ends, so keep
  collection creation/removal out of long transactions.
- Cosine collections refuse all-zero vectors (no direction; pgvector would return NaN).
- Metadata filters are compiled by ``core.storage.postgres.filters`` (JSON containment served by
  the ``jsonb_path_ops`` GIN index on ``metadata``, which covers every path, so
  ``indexed_fields`` are recorded but need no index of their own).
- ``scan`` pages by key (keyset; the cursor is the last key).
- ``create_collection(index=...)``: "halfvec" (default, ``STRATA_VECTOR_INDEX``), "vector" or
  "binary" (``vector_index``). ``bulk_load``: live batches, or a staged load (COPY into a
  hidden unindexed copy, one index build, one swap) when large (``vector_load``).
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from pgvector.psycopg import register_vector
from psycopg import sql

from core.storage import filters, hnsw
from core.storage.ports import (
    Page,
    UnknownCollection,
    VectorCollection,
    VectorFeatures,
    VectorHit,
    VectorItem,
    VectorLoad,
    VectorStore,
)
from core.storage.ports.errors import InvalidInput, StorageError, StoreUnavailable
from core.storage.postgres import pipelined, vector_collections, vector_index, vector_load, vector_query
from core.storage.postgres.errors import map_database_error
from core.storage.postgres.filters import compile_filter
from core.storage.postgres.vector_collections import StoredCollection
from core.storage.postgres.vector_index import parallel_hnsw_build_is_safe  # noqa: F401 (re-exported)

STORED_DIMENSION = vector_index.STORED_DIMENSION  # strata_vector.embedding is VECTOR(1536)
MAX_K = vector_query.MAX_K

_METADATA = sql.SQL("metadata")

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
def hnsw_index_name(collection_id: int, index_type: str = "halfvec") -> str:
    return vector_index.index_name(collection_id, index_type)


class PostgresVectorStore(VectorStore):
    """ports.VectorStore on the ``using`` database connection."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.features = VectorFeatures(
            joins_db_transaction=using == DEFAULT_DB_ALIAS,
            vendor="postgresql",
            dimensions=frozenset({STORED_DIMENSION}),
            max_dimension=STORED_DIMENSION,
            max_k=MAX_K,
            orders_ties_by_key=True,
            exact_vector_round_trip=True,
            builds_payload_indexes=False,
            index_kinds=frozenset(vector_index.INDEX_TYPES),
            stages_bulk_loads=True,
            indexes_leading_dimensions=True,
        )

    def __repr__(self) -> str:
        return f"PostgresVectorStore(using={self.using!r})"

    def _map_error(self, error: Exception) -> StorageError | None:
        return map_database_error(error, self.using)

    # ------------------------------------------------------------ collections

    def _do_create_collection(
        self, spec: VectorCollection, index: str | None = None, index_dimensions: int | None = None
    ) -> VectorCollection:
        index_type = vector_index.check_index_type(index or settings.STRATA_VECTOR_INDEX)
        dims = min(vector_index.check_index_dimensions(index_dimensions), spec.dimension)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO strata_vector_collection "
                "(name, dimension, model, metric, indexed_fields, index_type, index_dimensions, created_at) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, now()) ON CONFLICT (name) DO NOTHING RETURNING id",
                [spec.name, spec.dimension, spec.model, spec.metric, json.dumps(spec.indexed_fields), index_type, dims],
            )
            row = cursor.fetchone()
            if row is None:
                return vector_collections.fetch(cursor, spec.name)
            vector_index.create(cursor, row[0], spec.metric, index_type, dims)
        return StoredCollection(**{**spec.__dict__, "id": row[0], "index_type": index_type, "index_dimensions": dims})

    def _do_add_indexed_fields(self, spec: VectorCollection, fields: tuple[tuple[str, str], ...]) -> VectorCollection:
        """Record the fields (the GIN index on ``metadata`` already serves every path)."""
        merged = tuple(sorted({*spec.indexed_fields, *fields}))
        with self._cursor() as cursor:
            cursor.execute(
                "UPDATE strata_vector_collection SET indexed_fields = %s::jsonb WHERE name = %s",
                [json.dumps(merged), spec.name],
            )
        return StoredCollection(**{**spec.__dict__, "indexed_fields": merged})

    def _do_get_collection(self, name: str) -> VectorCollection | None:
        with self._cursor() as cursor:
            try:
                return vector_collections.fetch(cursor, name)
            except UnknownCollection:
                return None

    def _do_list_collections(self) -> list[VectorCollection]:
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT {vector_collections.COLUMNS} FROM strata_vector_collection "  # noqa: S608
                "WHERE name NOT LIKE '#%%' ORDER BY name"  # not the hidden ones of a staged load
            )
            return [vector_collections.from_row(row) for row in cursor.fetchall()]

    def _do_drop_collection(self, name: str) -> None:
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute("SELECT id FROM strata_vector_collection WHERE name = %s FOR UPDATE", [name])
            row = cursor.fetchone()
            if row is None:
                return
            if vector_load.lock_for_writing(row[0], using=self.using) is not None:
                raise StoreUnavailable(f"vector collection {name!r} is being bulk loaded by this process")
            for statement in vector_index.drop_statements(row[0]):
                cursor.execute(statement)
            cursor.execute("DELETE FROM strata_vector WHERE collection_id = %s", [row[0]])
            cursor.execute("DELETE FROM strata_vector_collection WHERE id = %s", [row[0]])

    # ------------------------------------------------------------ writes

    def _do_upsert(self, spec: VectorCollection, keys: list[str], matrix: np.ndarray, metadata: list[str]) -> None:
        # After the collection lookup: inside the caller's transaction the type lookup then runs in
        # a savepoint (psycopg's conn.transaction()), never as a transaction of its own.
        vector_collections.check_tail(spec, matrix)
        self._register_vector_type()
        # Everything is validated, so no savepoint (it costs a round trip per call): a database
        # error here is unexpected and marks the caller's transaction for rollback.
        with transaction.atomic(using=self.using, savepoint=False), self._cursor() as cursor:
            shadow = vector_load.lock_for_writing(spec.id, using=self.using)
            cursor.execute(_STAGE_DDL)
            # the raw psycopg COPY: its errors raised as Django's, like the cursor's own
            with cursor.db.wrap_database_errors, cursor.cursor.copy(_STAGE_COPY) as copy:
                copy.set_types(_STAGE_TYPES)
                for row in zip(keys, matrix, metadata, strict=True):
                    copy.write_row(row)
            cursor.execute(_UPSERT_FROM_STAGE, [spec.id])
            if shadow is not None:  # this process's staged load of the collection gets it too
                cursor.execute(_UPSERT_FROM_STAGE, [shadow.id])

    def _do_bulk_load(self, spec: VectorCollection, rows: int) -> VectorLoad:
        return vector_load.open_load(self, spec, rows)  # type: ignore[arg-type]

    def _do_delete(self, collection: str, keys: list[str]) -> int:
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            shadow = vector_load.lock_for_writing(target.id, using=self.using)
            statement = "DELETE FROM strata_vector WHERE collection_id = %s AND key = ANY(%s::text[])"
            if shadow is not None:  # this process's staged load of the collection loses them too
                cursor.execute(statement, [shadow.id, keys])
            cursor.execute(statement, [target.id, keys])
            return cursor.rowcount

    def _do_delete_where(self, collection: str, condition: filters.Filter) -> int:
        where, params = compile_filter(condition, _METADATA)
        query = sql.SQL("DELETE FROM strata_vector WHERE collection_id = %s AND {}").format(where)
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            shadow = vector_load.lock_for_writing(target.id, using=self.using)
            if shadow is not None:  # this process's staged load of the collection loses them too
                cursor.execute(query.as_string(), [shadow.id, *params])
            cursor.execute(query.as_string(), [target.id, *params])
            return cursor.rowcount

    # ------------------------------------------------------------ reads

    def _do_get_many(self, collection: str, keys: list[str]) -> dict[str, VectorItem]:
        with self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            cursor.execute(
                "SELECT key, embedding::real[], metadata FROM strata_vector "
                "WHERE collection_id = %s AND key = ANY(%s::text[])",
                [target.id, keys],
            )
            rows = cursor.fetchall()
        return {key: VectorItem(key=key, vector=list(vector), metadata=json.loads(meta)) for key, vector, meta in rows}

    def _do_count(self, collection: str, condition: filters.Filter | None) -> int:
        where, params = (sql.SQL("TRUE"), []) if condition is None else compile_filter(condition, _METADATA)
        query = sql.SQL("SELECT count(*) FROM strata_vector WHERE collection_id = %s AND {}").format(where)
        with self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            cursor.execute(query.as_string(), [target.id, *params])
            return cursor.fetchone()[0]

    def _do_scan(self, collection: str, after: str | None, limit: int, with_vectors: bool) -> Page[VectorItem]:
        vector = "embedding::real[]" if with_vectors else "NULL"
        with self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            cursor.execute(
                f"SELECT key, {vector}, metadata FROM strata_vector "  # noqa: S608 (a fixed choice of two)
                "WHERE collection_id = %s AND (%s::text IS NULL OR key > %s) ORDER BY key LIMIT %s",
                [target.id, after, after, limit + 1],
            )
            rows = cursor.fetchall()
        items = [
            VectorItem(key=key, vector=list(vec) if vec is not None else [], metadata=json.loads(meta))
            for key, vec, meta in rows[:limit]
        ]
        return Page(items=items, next_cursor=items[-1].key if len(rows) > limit else None)

    def _do_search(
        self, spec: VectorCollection, vector: np.ndarray, k: int, condition: filters.Filter | None
    ) -> list[VectorHit]:
        return [
            _hit(key, metadata, distance, spec.metric)
            for key, metadata, distance, _ in self.search_rows(spec, vector, k, condition)
        ]

    def search_rows(
        self, spec: VectorCollection, vector: np.ndarray, k: int, condition: filters.Filter | None
    ) -> list[tuple[str, str, float, str]]:
        """(key, metadata JSON, distance, path) rows of a search; ``path`` is ``hnsw`` or ``exact``
        (see ``vector_query``; for tests and benchmarks)."""
        where, params = (None, []) if condition is None else compile_filter(condition, _METADATA)
        statement = self.search_statement(spec, vector, k, where, params)
        self._register_vector_type()  # the query vector travels in pgvector's binary format
        return pipelined.fetch_with_settings(
            self.using,
            settings=statement.settings,
            query=statement.query,
            logged_query=statement.logged_query,
            params=statement.params,
        )

    def search_statement(
        self, spec: VectorCollection, vector: np.ndarray, k: int, where: sql.Composable | None, params: list[Any]
    ) -> vector_query.SearchStatement:
        return vector_query.search_statement(
            collection_id=spec.id,
            metric=spec.metric,
            vector=vector,
            k=k,
            where=where,
            where_params=params,
            ef_search=hnsw.ef_search_for(getattr(spec, "rows_estimate", None), k),
            exact_max_rows=int(settings.STRATA_VECTOR_EXACT_MAX_ROWS),
            indexed=vector_index.indexed_expression(spec.index_type, spec.index_dimensions),
            candidates=int(settings.STRATA_VECTOR_BINARY_CANDIDATES),
        )

    def rebuild_index(
        self, collection: str, *, index_type: str | None = None, index_dimensions: int | None = None
    ) -> str:
        """Rebuild the collection's HNSW index (as ``index_type`` on its leading
        ``index_dimensions`` components; default: as it is) without a moment without a valid
        index (``vector_index.rebuild``); outside any transaction. Fewer dimensions are refused
        while a vector has a non-zero component beyond them. Returns the index type now in use."""
        wrapper = connections[self.using]
        if wrapper.in_atomic_block:
            raise StorageError("rebuild_index builds CONCURRENTLY: call it outside transaction.atomic()")
        with self._cursor() as cursor:
            target = vector_collections.fetch(cursor, collection)
            new_type = vector_index.check_index_type(index_type or target.index_type)
            dims = target.index_dimensions
            if index_dimensions is not None:
                dims = min(vector_index.check_index_dimensions(index_dimensions), target.dimension)
            key = vector_index.nonzero_tail_key(cursor, target.id, dims)
            if key is not None:
                raise InvalidInput(
                    f"vector {key!r} of collection {collection!r} has non-zero components beyond the first {dims}"
                )
            vector_index.rebuild(
                cursor,
                collection_id=target.id,
                metric=target.metric,
                old_type=target.index_type,
                new_type=new_type,
                dims=dims,
            )
        return new_type

    # ------------------------------------------------------------ helpers

    def get_spec(self, name: str) -> StoredCollection:
        """The collection with its id and index type (UnknownCollection)."""
        with self._cursor() as cursor:
            return vector_collections.fetch(cursor, name)

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



#: psycopg connections that already know pgvector's types (a connection is registered once).
_VECTOR_TYPES_REGISTERED: weakref.WeakSet = weakref.WeakSet()


# ---------------------------------------------------------------- SQL building


def _hit(key: str, metadata: str, distance: float, metric: str) -> VectorHit:
    distance = float(distance)
    score = 1.0 - distance if metric == "cosine" else -distance
    return VectorHit(key=key, score=score, distance=distance, metadata=json.loads(metadata))
