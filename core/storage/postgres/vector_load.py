"""The bulk vector path of the pgvector store: staged loads, one index build, one swap.

Inserting into a live HNSW index costs 3.5-4.7 ms of CPU per row on this machine; building
the index once costs about a quarter of that per row, and an unindexed COPY about 0.1 ms
(issue 9's study; ``./strata bench vector_scale``). So ``bulk_load`` (the port's
``VectorStore.bulk_load``) picks, per load:

- **live** when the load is small against the collection: fewer than
  ``STRATA_VECTOR_BULK_MIN_ROWS`` rows, or less than ``STRATA_VECTOR_BULK_FRACTION`` of the
  collection it will make (the measured switch point: ``./strata bench vector_scale --switch``).
  ``add`` upserts ``STRATA_VECTOR_LIVE_BATCH`` rows per commit (COPY into a temporary table, one
  ``INSERT ... ON CONFLICT``), so readers see each batch as it commits; outside a transaction
  the batches go over ``STRATA_VECTOR_LIVE_CONNECTIONS`` (2) connections (``LiveLoad``).
- **staged** otherwise (outside any transaction only):

  1. the load takes the collection's session advisory lock ``strata.vectors:<id>`` (waiting for
     the writes in flight); writers of that collection (``upsert``, ``delete``, ``delete_where``,
     ``drop_collection``) try it shared and get ``StoreUnavailable`` (the retryable error) while a
     staged load runs: a writer waiting inside its transaction would deadlock with the load's
     CONCURRENTLY build, which waits for every older transaction (searches never wait). The
     load's own session, and those of the threads ``joined`` to it (a bulk ingest's writers),
     write to both the collection and the copy (``lock_for_writing``);
  2. a hidden collection ``#load:<id>`` (a name no caller can use) gets a copy of the
     collection's rows, without an HNSW index, in one statement;
  3. each ``add`` COPYs its rows into it, ``STRATA_VECTOR_LIVE_BATCH`` rows per commit (an
     interrupted load leaves the collection untouched: the next load of it, or ``abort``,
     drops the leftover);
  4. ``finish`` builds the HNSW index once, ``CONCURRENTLY`` (other collections' writes go on),
     with ``STRATA_HNSW_BUILD_MEMORY`` and, on pgvector >= 0.8.2, ``STRATA_HNSW_BUILD_WORKERS``
     parallel workers (serial below: CVE-2026-3172; ``vector_index.build_settings``);
  5. one short transaction renames the old collection ``#old:<id>`` and the new one to the
     collection's name: a search reads the collection by name, so it sees the old rows and
     index or the new ones, never part of the load;
  6. the old collection's index and rows are dropped afterwards (a search that read the old
     id just before the swap still finds its rows: the index goes first, CONCURRENTLY, which
     waits for the searches using it), and ``strata_vector`` is analyzed (its old rows stay dead
     until autovacuum reclaims them).

The collection's id changes with a staged load (ids are internal: callers name collections).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, transaction
from psycopg import sql

from core import locks, parallel
from core.storage import vector_input
from core.storage.ports import StoreUnavailable, VectorItem, VectorLoad
from core.storage.postgres import vector_index
from core.storage.postgres.vector_collections import StoredCollection

if TYPE_CHECKING:
    from core.storage.postgres.vectors import PostgresVectorStore

logger = logging.getLogger(__name__)

HIDDEN_PREFIX = "#"  # collection names never start with it (validation.collection_name)

#: (database alias, collection id) -> (the connections writing for the load: the loading
#: session's and those of the threads ``joined`` to it, the hidden copy) of the staged loads
#: this process runs
_LOADING: dict[tuple[str, int], tuple[list[object], StoredCollection]] = {}


def lock_name(collection_id: int) -> str:
    return f"strata.vectors:{int(collection_id)}"


def lock_for_writing(collection_id: int, *, using: str) -> StoredCollection | None:
    """A writer's shared hold on the collection until its transaction ends; ``StoreUnavailable``
    (the retryable error) while another session's staged load of it runs. Never waiting matters:
    the load's CONCURRENTLY build waits for every older transaction, so a writer waiting for the
    load inside its transaction would deadlock with it.

    Returns the hidden copy of a staged load that this session runs on the collection: its own
    session passes the lock, and its writes must reach the copy too (an ingest's deletes of
    replaced chunks), else the swap would undo them."""
    loading = _LOADING.get((using, int(collection_id)))
    if loading is not None and any(held is connections[using].connection for held in loading[0]):
        return loading[1]
    if not locks.try_advisory_xact_lock(lock_name(collection_id), shared=True, using=using):
        raise StoreUnavailable(
            "this vector collection is being bulk loaded (a staged load holds it until its index is built "
            "and swapped in); retry when it has finished"
        )
    return None


def staged_wanted(rows: int, existing: int) -> bool:
    """The switch point: stage a load of ``rows`` into a collection of ``existing`` rows?"""
    if rows < int(settings.STRATA_VECTOR_BULK_MIN_ROWS):
        return False
    return rows >= float(settings.STRATA_VECTOR_BULK_FRACTION) * (existing + rows)


def open_load(store: PostgresVectorStore, spec: StoredCollection, rows: int) -> VectorLoad:
    connection = connections[store.using]
    if connection.in_atomic_block:
        return LiveLoad(store, spec)  # inside the caller's transaction: its savepoints, no build
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM strata_vector WHERE collection_id = %s", [spec.id])
        existing = cursor.fetchone()[0]
    if staged_wanted(rows, existing):
        return StagedLoad(store, spec)
    return LiveLoad(store, spec)


class LiveLoad(VectorLoad):
    """Batches upserted into the live collection, each in its own transaction (or savepoint).

    Outside a transaction, an ``add`` of two batches or more writes them over
    ``STRATA_VECTOR_LIVE_CONNECTIONS`` (2) connections at once: this thread's and helper
    threads' own (Django connections are per thread), each batch still one transaction of its
    own. The items are validated first, so bad input writes nothing; a database error stops the
    batches not yet started (those committed stay, as with one connection, and may include the
    other connection's batch after the failed one). Keys repeated across the items go over one
    connection, in order (the last one wins, and two transactions never wait on each other's
    rows)."""

    def __init__(self, store: PostgresVectorStore, spec: StoredCollection) -> None:
        super().__init__(store, spec.name, spec.model)
        self.using = store.using
        self.spec = spec

    def _add(self, items: list[VectorItem]) -> int:
        size = max(1, int(settings.STRATA_VECTOR_LIVE_BATCH))
        workers = min(max(1, int(settings.STRATA_VECTOR_LIVE_CONNECTIONS)), -(-len(items) // size))
        if workers < 2 or connections[self.using].in_atomic_block:
            return super()._add(items)
        keys, _, _ = vector_input.prepare_items(items, self.spec)  # InvalidInput before any write
        if len(keys) != len(items):
            return super()._add(items)
        batches = [items[start : start + size] for start in range(0, len(items), size)]
        return write_in_parallel(self._write_batch, batches, workers=workers)

    def _write_batch(self, items: list[VectorItem]) -> int:
        with transaction.atomic(using=self.using):
            return super()._write_batch(items)


def write_in_parallel(write, batches: list[list[VectorItem]], *, workers: int) -> int:
    """``write`` each batch on ``workers`` threads, each on its own connection (closed when it is
    done: ``core.parallel.ordered_map``); the first failed batch's error is raised once the
    batches running have stopped, and the batches not started never are."""
    outcomes = parallel.ordered_map(write, batches, workers=workers)
    try:
        return sum(outcome.get() for outcome in outcomes)
    finally:
        outcomes.close()  # now, not when the traceback is gone: cancels the queued, joins the threads


class StagedLoad(VectorLoad):
    """A staged load (module doc, steps 1-6)."""

    staged = True

    def __init__(self, store: PostgresVectorStore, spec: StoredCollection) -> None:
        super().__init__(store, spec.name, spec.model)
        self.pg = store
        self.using = store.using
        self.live = spec
        self.locked = False
        self.builder: Future[None] | None = None  # ``build_ahead``'s build
        try:
            locks.advisory_session_lock(lock_name(spec.id), using=self.using)
            self.locked = True
            current = self.pg.get_spec(spec.name)  # it may have changed while we waited
            if current.id != spec.id:
                locks.advisory_session_unlock(lock_name(spec.id), using=self.using)
                locks.advisory_session_lock(lock_name(current.id), using=self.using)
            self.live = current
            self._drop_leftovers()
            self.shadow = self._create_shadow()
            _LOADING[(self.using, current.id)] = ([connections[self.using].connection], self.shadow)
        except BaseException:
            self._unlock()
            raise

    @contextmanager
    def joined(self) -> Iterator[None]:
        """The calling thread's session writes for the load inside the block: its writes to the
        collection pass ``lock_for_writing`` and reach the copy too (the thread's transactions
        end before ``finish``, whose build waits for them)."""
        wrapper = connections[self.using]
        wrapper.ensure_connection()
        session = wrapper.connection
        loading = _LOADING.get((self.using, self.live.id))
        if loading is None or any(held is session for held in loading[0]):
            yield
            return
        loading[0].append(session)
        try:
            yield
        finally:
            loading[0][:] = [held for held in loading[0] if held is not session]

    # ------------------------------------------------------------ steps

    def _create_shadow(self) -> StoredCollection:
        live = self.live
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO strata_vector_collection "
                "(name, dimension, model, metric, indexed_fields, index_type, index_dimensions, created_at) "
                "SELECT %s, dimension, model, metric, indexed_fields, index_type, index_dimensions, now() "
                "FROM strata_vector_collection WHERE id = %s RETURNING id",
                [self._hidden("load"), live.id],
            )
            shadow_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO strata_vector (collection_id, key, embedding, metadata, updated_at) "
                "SELECT %s, key, embedding, metadata, updated_at FROM strata_vector WHERE collection_id = %s",
                [shadow_id, live.id],
            )
        return type(live)(**{**live.__dict__, "id": shadow_id})

    def _write_batch(self, items: list[VectorItem]) -> int:
        keys, matrix, metadata = vector_input.prepare_items(items, self.shadow)
        if not keys:
            return 0
        with transaction.atomic(using=self.using):
            self.pg._run(self.pg._do_upsert, self.shadow, keys, matrix, metadata)
        return len(keys)

    def build_ahead(self) -> None:
        """The index build on a thread and connection of its own (``core.parallel.start``);
        ``finish`` waits for it, then swaps. Rows added or deleted meanwhile are handled by
        ``CREATE INDEX CONCURRENTLY`` itself (its validation pass)."""
        if self.builder is None and not self.done:
            self.builder = parallel.start(self._build, name="strata-hnsw-build")

    def _build(self) -> None:
        with self._cursor() as cursor:
            vector_index.build_concurrently(
                cursor,
                collection_id=self.shadow.id,
                metric=self.shadow.metric,
                index_type=self.shadow.index_type,
                name=vector_index.index_name(self.shadow.id, self.shadow.index_type),
                dims=self.shadow.index_dimensions,
            )

    def _finish(self) -> None:
        started = time.perf_counter()
        try:
            if self.builder is not None:
                self.builder.result()  # its error, if any, raised here
            else:
                self._build()
            with self._cursor() as cursor:
                with transaction.atomic(using=self.using):  # the swap
                    cursor.execute(
                        "UPDATE strata_vector_collection SET name = %s WHERE id = %s",
                        [self._hidden("old"), self.live.id],
                    )
                    cursor.execute(
                        "UPDATE strata_vector_collection SET name = %s, indexed_fields = "
                        "(SELECT indexed_fields FROM strata_vector_collection WHERE id = %s) WHERE id = %s",
                        [self.live.name, self.live.id, self.shadow.id],
                    )
        except BaseException:
            self._abort()
            raise
        self._unlock()
        self._drop(self.live.id)
        with self._cursor() as cursor:  # the planner learns the new rows (autovacuum reclaims the old ones)
            cursor.execute("ANALYZE strata_vector")
        logger.info(
            "vector collection %s: staged load of %d rows swapped in, %s index built in %.1f s",
            self.live.name,
            self.rows,
            self.shadow.index_type,
            time.perf_counter() - started,
        )

    def _abort(self) -> None:
        try:
            if self.builder is not None:  # a build running on the copy ends before it is dropped
                self.builder.exception()
            if getattr(self, "shadow", None) is not None:
                self._drop(self.shadow.id)
        finally:
            self._unlock()

    # ------------------------------------------------------------ helpers

    def _hidden(self, what: str) -> str:
        return f"{HIDDEN_PREFIX}{what}:{self.live.id}"

    def _drop_leftovers(self) -> None:
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT id FROM strata_vector_collection WHERE name IN (%s, %s)",
                [self._hidden("load"), self._hidden("old")],
            )
            for (collection_id,) in cursor.fetchall():
                self._drop(collection_id)

    def _drop(self, collection_id: int) -> None:
        """A hidden collection's index (CONCURRENTLY), rows and record (outside a transaction)."""
        with self._cursor() as cursor:
            for kind in vector_index.INDEX_TYPES:
                name = sql.Identifier(vector_index.index_name(collection_id, kind))
                cursor.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name).as_string())
            with transaction.atomic(using=self.using):
                cursor.execute("DELETE FROM strata_vector WHERE collection_id = %s", [collection_id])
                cursor.execute("DELETE FROM strata_vector_collection WHERE id = %s", [collection_id])

    def _unlock(self) -> None:
        _LOADING.pop((self.using, self.live.id), None)
        if self.locked:
            self.locked = False
            locks.advisory_session_unlock(lock_name(self.live.id), using=self.using)

    def _cursor(self):
        return connections[self.using].cursor()


def hidden(name: str) -> bool:
    return name.startswith(HIDDEN_PREFIX)
