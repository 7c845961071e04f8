"""pgvector collections' HNSW index types and their concurrent rebuild (vector_index)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from core.storage.ports import StorageError, VectorItem
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name

DIM = 1536
MODEL = "model-a"


@pytest.fixture
def store() -> PostgresVectorStore:
    return PostgresVectorStore()


def _indexes(collection_id: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname LIKE %s AND i.indisvalid ORDER BY 1",
            [f"strata_vector_hnsw_{collection_id}%"],
        )
        return [row[0] for row in cursor.fetchall()]


def _index_type(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT index_type FROM strata_vector_collection WHERE name = %s", [name])
        return cursor.fetchone()[0]


def _load(store: PostgresVectorStore, name: str, count: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((count, DIM)).astype(np.float32)
    store.upsert(name, [VectorItem(f"k{i:03d}", matrix[i], {"i": i}) for i in range(count)], model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    return matrix, rng.standard_normal(DIM).astype(np.float32)


def _plan(store: PostgresVectorStore, name: str, query: np.ndarray) -> str:
    spec = store._checked(name, MODEL)
    statement = store.search_statement(spec, query, 10, None, [])
    with transaction.atomic(), connection.cursor() as cursor:
        for setting, value in statement.settings:
            cursor.execute("SELECT set_config(%s, %s, true)", [setting, value])
        cursor.execute("SET LOCAL enable_seqscan = off")
        literal = "[" + ",".join(map(repr, query.tolist())) + "]"
        params = [literal if isinstance(p, np.ndarray) else p for p in statement.params]
        cursor.execute("EXPLAIN (COSTS OFF) " + statement.logged_query, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_new_collections_get_the_halfvec_index_and_search_through_it_with_exact_distances(store):
    store.create_collection("h", dimension=DIM, model=MODEL)
    assert _index_type("h") == "halfvec"
    matrix, query = _load(store, "h")
    collection_id = store._checked("h", MODEL).id
    assert f"Index Scan using {hnsw_index_name(collection_id, 'halfvec')}" in _plan(store, "h", query)
    hits = store.search("h", query, model=MODEL, k=5)
    exact = 1.0 - (matrix @ query) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    by_key = {f"k{i:03d}": float(exact[i]) for i in range(len(matrix))}
    for hit in hits:  # full-precision distances, not halfvec's
        assert hit.distance == pytest.approx(by_key[hit.key], abs=1e-6)
    stored = np.asarray(store.get("h", hits[0].key).vector, dtype=np.float32)
    assert np.array_equal(stored, matrix[int(hits[0].key[1:])])  # the column keeps full precision


@pytest.mark.django_db(transaction=True)
def test_an_existing_vector_index_keeps_working_until_rebuilt_as_halfvec(store, settings):
    settings.STRATA_VECTOR_INDEX = "vector"  # a collection from before the halfvec default
    store.create_collection("old", dimension=DIM, model=MODEL)
    matrix, query = _load(store, "old")
    collection_id = store._checked("old", MODEL).id
    assert _indexes(collection_id) == [hnsw_index_name(collection_id, "vector")]
    assert f"Index Scan using {hnsw_index_name(collection_id, 'vector')}" in _plan(store, "old", query)
    before = store.search("old", query, model=MODEL, k=10)

    call_command("vector_reindex", "old", "--index", "halfvec")

    assert _index_type("old") == "halfvec"
    assert _indexes(collection_id) == [hnsw_index_name(collection_id, "halfvec")]
    assert f"Index Scan using {hnsw_index_name(collection_id, 'halfvec')}" in _plan(store, "old", query)
    after = store.search("old", query, model=MODEL, k=10)
    assert [hit.key for hit in after] == [hit.key for hit in before]
    # a rebuild of the same type swaps in a fresh index under the same name
    assert store.rebuild_index("old") == "halfvec"
    assert _indexes(collection_id) == [hnsw_index_name(collection_id, "halfvec")]
    store.drop_collection("old")
    assert _indexes(collection_id) == []


@pytest.mark.django_db
def test_rebuild_refuses_to_run_inside_a_transaction(store):
    store.create_collection("t", dimension=DIM, model=MODEL)
    with pytest.raises(StorageError, match="outside transaction"):
        store.rebuild_index("t")
