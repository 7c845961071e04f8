"""The bulk vector path (core/storage/postgres/vector_load.py): the switch point, staged loads
that readers see all or nothing, live batches, and the same answers either way."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import connection, connections

from core.storage.ports import StoreUnavailable, VectorItem
from core.storage.postgres import vector_index, vector_load
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name

DIM = 1536
MODEL = "model-bulk"


@pytest.fixture
def store() -> PostgresVectorStore:
    return PostgresVectorStore()


def _matrix(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((16, DIM)).astype(np.float32)
    matrix = rng.standard_normal((count, 16)).astype(np.float32) @ basis
    matrix += 0.2 * rng.standard_normal((count, DIM)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _items(prefix: str, matrix: np.ndarray, start: int = 0) -> list[VectorItem]:
    return [VectorItem(f"{prefix}{start + i:04d}", row, {"part": prefix}) for i, row in enumerate(matrix)]


def _valid_indexes(like: str = "strata_vector_hnsw_%") -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname LIKE %s AND i.indisvalid ORDER BY 1",
            [like],
        )
        return [row[0] for row in cursor.fetchall()]


def _all_collection_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM strata_vector_collection ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def test_the_switch_point_stages_loads_that_are_large_against_the_collection(settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 1000
    settings.STRATA_VECTOR_BULK_FRACTION = 0.25
    assert not vector_load.staged_wanted(999, 0)  # too few rows to be worth a build
    assert vector_load.staged_wanted(1000, 0)
    assert vector_load.staged_wanted(1000, 3000)  # 25% of the 4,000 rows after the load
    assert not vector_load.staged_wanted(1000, 3001)


def test_builds_are_serial_before_pgvector_0_8_2_and_parallel_with_the_reloption_after(settings):
    settings.STRATA_HNSW_BUILD_MEMORY = "2GB"
    before, after = vector_index.build_settings("0.8.1", 2)
    assert before == ["SET maintenance_work_mem = '2GB'", "SET max_parallel_maintenance_workers = 0"]
    assert "RESET maintenance_work_mem" in after and "RESET max_parallel_maintenance_workers" in after
    before, _ = vector_index.build_settings("0.8.4", 2)
    assert "ALTER TABLE strata_vector SET (parallel_workers = 2)" in before
    assert "SET max_parallel_maintenance_workers = 2" in before
    before, _ = vector_index.build_settings(None, 2)  # unknown version: serial
    assert "SET max_parallel_maintenance_workers = 0" in before


@pytest.mark.django_db(transaction=True)
def test_a_staged_load_is_invisible_until_its_index_is_valid_then_all_of_it_is(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 100
    settings.STRATA_VECTOR_BULK_FRACTION = 0.2
    settings.STRATA_VECTOR_LIVE_BATCH = 100
    store.create_collection("docs", dimension=DIM, model=MODEL, indexed_fields={"part": "keyword"})
    old = _matrix(200, 1)
    store.upsert("docs", _items("a", old), model=MODEL)
    old_id = store.get_spec("docs").id
    old_hits = [h.key for h in store.search("docs", old[0], model=MODEL, k=5)]

    new = _matrix(300, 2)
    load = store.bulk_load("docs", model=MODEL, rows=300)
    assert load.staged
    load.add(_items("b", new[:150]))
    load.add(_items("b", new[150:], 150) + [VectorItem("a0001", new[0], {"part": "replaced"})])
    # batches are committed in the hidden copy; readers still see the old collection only
    assert store.count("docs") == 200
    assert [h.key for h in store.search("docs", old[0], model=MODEL, k=5)] == old_hits
    assert store.search("docs", new[7], model=MODEL, k=1)[0].key.startswith("a")
    assert [c.name for c in store.list_collections()] == ["docs"]
    assert any(name.startswith("#load:") for name in _all_collection_names())

    assert load.finish() == 301
    spec = store.get_spec("docs")
    assert spec.id != old_id and spec.indexed_fields == (("part", "keyword"),)
    assert store.count("docs") == 500
    assert store.count("docs", filter={"part": "replaced"}) == 1
    assert store.search("docs", new[7], model=MODEL, k=1)[0].key == "b0007"
    assert hnsw_index_name(spec.id, "halfvec") in _valid_indexes()
    assert not [name for name in _valid_indexes() if name.startswith(f"strata_vector_hnsw_{old_id}_")]  # gone
    assert not [name for name in _all_collection_names() if name.startswith("#")]  # and the hidden collections


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_reader_sees_the_old_rows_or_the_new_never_part_of_a_load(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 100
    settings.STRATA_VECTOR_LIVE_BATCH = 50
    store.create_collection("seen", dimension=DIM, model=MODEL)
    store.upsert("seen", _items("a", _matrix(100, 3)), model=MODEL)
    new = _matrix(400, 4)
    seen: set[tuple[int, int]] = set()
    errors: list[BaseException] = []
    stop, reading = threading.Event(), threading.Event()

    def read() -> None:
        reader = PostgresVectorStore()
        try:
            while not stop.is_set():
                hits = reader.search("seen", new[3], model=MODEL, k=400)
                seen.add((len(hits), sum(h.key.startswith("b") for h in hits)))
                reading.set()
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=read)
    thread.start()
    assert reading.wait(30)
    try:
        with store.bulk_load("seen", model=MODEL, rows=400) as load:
            assert load.staged
            for start in range(0, 400, 50):
                load.add(_items("b", new[start : start + 50], start))
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    reader_final = store.search("seen", new[3], model=MODEL, k=400)
    assert sum(h.key.startswith("b") for h in reader_final) >= 290
    # every search saw no "b" row (before the swap) or the whole load (after it)
    assert (100, 0) in seen
    assert all(b == 0 or b == sum(h.key.startswith("b") for h in reader_final) for _, b in seen)


@pytest.mark.django_db(transaction=True)
def test_incremental_and_staged_loads_give_the_same_answers(store, settings):
    settings.STRATA_VECTOR_LIVE_BATCH = 500
    matrix = _matrix(1200, 6)
    store.create_collection("live", dimension=DIM, model=MODEL)
    store.create_collection("staged", dimension=DIM, model=MODEL)
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9  # live
    with store.bulk_load("live", model=MODEL, rows=1200) as load:
        assert not load.staged
        load.add(_items("k", matrix))
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 100
    with store.bulk_load("staged", model=MODEL, rows=1200) as load:
        assert load.staged
        load.add(_items("k", matrix))
    rng = np.random.default_rng(8)
    for _ in range(15):
        query = matrix[int(rng.integers(1200))] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        live = [(h.key, round(h.distance, 6)) for h in store.search("live", query, model=MODEL, k=10)]
        staged = [(h.key, round(h.distance, 6)) for h in store.search("staged", query, model=MODEL, k=10)]
        exact = np.argsort(1.0 - matrix @ (query / np.linalg.norm(query)), kind="stable")[:10]
        assert [k for k, _ in live] == [k for k, _ in staged] == [f"k{i:04d}" for i in exact]
        assert live == staged


@pytest.mark.django_db(transaction=True)
def test_an_aborted_or_interrupted_load_leaves_the_collection_as_it_was(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    store.create_collection("keep", dimension=DIM, model=MODEL)
    store.upsert("keep", _items("a", _matrix(20, 7)), model=MODEL)
    spec = store.get_spec("keep")
    with pytest.raises(RuntimeError, match="boom"), store.bulk_load("keep", model=MODEL, rows=100) as load:
        load.add(_items("b", _matrix(50, 8)))
        raise RuntimeError("boom")
    assert store.get_spec("keep").id == spec.id and store.count("keep") == 20
    assert not [name for name in _all_collection_names() if name.startswith("#")]
    # a killed process leaves its hidden copy behind: the next load of the collection drops it
    interrupted = store.bulk_load("keep", model=MODEL, rows=100)
    interrupted.add(_items("c", _matrix(50, 9)))
    interrupted._unlock()  # the process died: its session lock went with its connection
    with store.bulk_load("keep", model=MODEL, rows=100) as load:
        load.add(_items("d", _matrix(30, 10)))
    assert store.count("keep") == 50 and store.count("keep", filter={"part": "c"}) == 0
    assert not [name for name in _all_collection_names() if name.startswith("#")]


@pytest.mark.django_db
def test_inside_a_transaction_a_load_is_live(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 1
    store.create_collection("tx", dimension=DIM, model=MODEL)
    load = store.bulk_load("tx", model=MODEL, rows=100)
    assert not load.staged
    load.add(_items("a", _matrix(30, 11)))
    assert load.finish() == 30 and store.count("tx") == 30
    with pytest.raises(RuntimeError, match="finished"):
        load.add(_items("z", _matrix(1, 12)))


@pytest.mark.django_db(transaction=True)
def test_other_writers_are_told_to_retry_while_a_staged_load_runs_and_its_own_reach_both(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    store.create_collection("busy", dimension=DIM, model=MODEL)
    store.create_collection("other", dimension=DIM, model=MODEL)
    store.upsert("busy", _items("a", _matrix(20, 13)), model=MODEL)
    outcome: dict[str, object] = {}

    def write(name: str) -> None:
        writer = PostgresVectorStore()
        try:
            writer.upsert(name, _items("w", _matrix(2, 14)), model=MODEL)
            outcome[name] = "written"
        except StoreUnavailable as error:
            outcome[name] = error
        finally:
            connections.close_all()

    with store.bulk_load("busy", model=MODEL, rows=100) as load:
        load.add(_items("b", _matrix(40, 15)))
        for name in ("busy", "other"):
            thread = threading.Thread(target=write, args=(name,))
            thread.start()
            thread.join(30)
        assert isinstance(outcome["busy"], StoreUnavailable) and "bulk loaded" in str(outcome["busy"])
        assert outcome["other"] == "written"  # other collections are not held
        # the load's own session writes to both (an ingest's deletes of replaced chunks): readers
        # see them now, and the swap keeps them
        store.upsert("busy", _items("s", _matrix(1, 16)), model=MODEL)
        assert store.delete("busy", ["a0000", "a0001"]) == 2
        assert store.count("busy") == 19
        with pytest.raises(StoreUnavailable):
            store.drop_collection("busy")
    assert store.count("busy") == 59  # 20 - 2 + 1 + 40
    assert store.count("busy", filter={"part": "s"}) == 1 and store.get("busy", "a0000") is None
    write("busy")
    assert outcome["busy"] == "written"


@pytest.mark.django_db(transaction=True)
def test_a_live_load_writes_its_batches_over_two_connections_each_batch_one_transaction(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9  # live
    settings.STRATA_VECTOR_LIVE_BATCH = 100
    settings.STRATA_VECTOR_LIVE_CONNECTIONS = 2
    store.create_collection("two", dimension=DIM, model=MODEL)
    matrix = _matrix(1200, 8)
    backends: list[int] = []
    load = store.bulk_load("two", model=MODEL, rows=1200)
    assert not load.staged
    write_batch = load._write_batch

    def recording(items: list[VectorItem]) -> int:  # the real write, noting which backend ran it
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
        return write_batch(items)

    load._write_batch = recording
    assert load.add(_items("k", matrix)) == 1200
    assert load.finish() == 1200
    assert len(backends) == 12 and len(set(backends)) == 2  # 12 batches over 2 connections
    assert store.count("two") == 1200
    with connection.cursor() as cursor:  # each batch committed as one transaction of its own
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM strata_vector WHERE key LIKE 'k%%'")
        assert cursor.fetchone()[0] == 12
    assert [hit.key for hit in store.search("two", matrix[17], model=MODEL, k=1)] == ["k0017"]


@pytest.mark.django_db(transaction=True)
def test_a_parallel_live_load_refuses_bad_input_before_writing_and_keeps_the_last_of_repeated_keys(store, settings):
    from core.storage.ports import InvalidInput

    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9
    settings.STRATA_VECTOR_LIVE_BATCH = 50
    store.create_collection("checked", dimension=DIM, model=MODEL)
    matrix = _matrix(300, 9)
    bad = _items("k", matrix)
    bad[250] = VectorItem("k0250", [1.0, 2.0], {})  # wrong dimension, in the fifth batch
    with pytest.raises(InvalidInput):
        store.bulk_load("checked", model=MODEL, rows=300).add(bad)
    assert store.count("checked") == 0  # validated first: no batch was written
    repeated = _items("k", matrix) + [VectorItem("k0003", matrix[3], {"i": "last"})]
    load = store.bulk_load("checked", model=MODEL, rows=301)
    load.add(repeated)  # a repeated key: one connection, in order
    assert store.get_many("checked", ["k0003"])["k0003"].metadata == {"i": "last"}
    assert store.count("checked") == 300


def test_write_in_parallel_stops_at_the_first_error_and_raises_it():
    started: list[int] = []
    guard = threading.Lock()

    def write(batch: list[VectorItem]) -> int:
        with guard:
            started.append(len(started))
        if len(batch) == 3:
            raise RuntimeError("batch failed")
        return len(batch)

    batches = [[VectorItem(f"k{i}", [1.0])] for i in range(4)] + [[VectorItem("x", [1.0])] * 3]
    batches += [[VectorItem(f"z{i}", [1.0])] for i in range(20)]
    with pytest.raises(RuntimeError, match="batch failed"):
        vector_load.write_in_parallel(write, batches, workers=2)
    assert len(started) < len(batches)  # the batches after the failure (but one in flight) never ran
    assert vector_load.write_in_parallel(write, batches[:4], workers=2) == 4
