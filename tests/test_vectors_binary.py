"""The binary-quantized index option (create_collection(index="binary")): bit(1536) Hamming
candidates re-ranked by the exact distance; and the port's validation of ``index``."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction

from core.storage import hnsw
from core.storage.ports import InvalidInput, VectorItem
from core.storage.postgres import vector_index
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name

DIM = 1536
MODEL = "model-b"


@pytest.fixture
def store() -> PostgresVectorStore:
    return PostgresVectorStore()


def clustered(count: int, seed: int = 5) -> np.ndarray:
    """Vectors near a few random directions (embedding-like, unlike uniform noise)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((24, DIM)).astype(np.float32)
    matrix = rng.standard_normal((count, 24)).astype(np.float32) @ basis
    matrix += 0.3 * rng.standard_normal((count, DIM)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def exact_top(matrix: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    distances = 1.0 - matrix @ (query / np.linalg.norm(query))
    return [f"k{i:04d}" for i in np.argsort(distances, kind="stable")[:k]]


def _definition(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
        return row[0] if row else ""


@pytest.mark.django_db
def test_a_binary_collection_searches_its_bit_index_and_reranks_exactly(store, settings):
    settings.STRATA_VECTOR_BINARY_CANDIDATES = 100
    store.create_collection("bin", dimension=DIM, model=MODEL, index="binary")
    spec = store.get_spec("bin")
    assert spec.index_type == "binary"
    definition = _definition(hnsw_index_name(spec.id, "binary"))
    assert "binary_quantize(embedding)" in definition and "bit_hamming_ops" in definition
    matrix = clustered(1500)
    store.upsert("bin", [VectorItem(f"k{i:04d}", matrix[i], {"i": i}) for i in range(len(matrix))], model=MODEL)
    rng = np.random.default_rng(9)
    found = 0
    for _ in range(20):
        query = matrix[int(rng.integers(len(matrix)))] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        rows = store.search_rows(spec, query.astype(np.float32), 10, None)
        assert len(rows) == 10 and all(row[3] == "hnsw" for row in rows)
        distances = [row[2] for row in rows]
        assert distances == sorted(distances)
        q = query / np.linalg.norm(query)
        by_key = {f"k{i:04d}": float(1.0 - matrix[i] @ q) for i in range(len(matrix))}
        for key, _, distance, _ in rows:  # full-precision distances, not Hamming ones
            assert distance == pytest.approx(by_key[key], abs=1e-5)
        found += len({row[0] for row in rows} & set(exact_top(matrix, query, 10)))
    assert found / 200 >= 0.9  # candidates re-ranked: recall close to the exact scan's


@pytest.mark.django_db
def test_the_binary_plan_walks_the_bit_index_for_the_candidates(store, settings):
    settings.STRATA_VECTOR_BINARY_CANDIDATES = 40
    store.create_collection("binplan", dimension=DIM, model=MODEL, index="binary")
    spec = store.get_spec("binplan")
    statement = store.search_statement(spec, np.ones(DIM, np.float32), 5, None, [])
    assert "<~>" in statement.query and "binary_quantize(" in statement.query
    assert statement.params[2:] == [40, 5]  # walk 40 candidates, keep 5
    assert dict(statement.settings)["hnsw.ef_search"] == str(hnsw.ef_search_for(spec.rows_estimate, 40))
    matrix = clustered(300)
    store.upsert("binplan", [VectorItem(f"k{i:04d}", matrix[i]) for i in range(300)], model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    with transaction.atomic(), connection.cursor() as cursor:
        for setting, value in statement.settings:
            cursor.execute("SELECT set_config(%s, %s, true)", [setting, value])
        literal = "[" + ",".join("1" for _ in range(DIM)) + "]"
        params = [literal if isinstance(p, np.ndarray) else p for p in statement.params]
        cursor.execute("EXPLAIN (COSTS OFF) " + statement.logged_query, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using {hnsw_index_name(spec.id, 'binary')}" in plan


@pytest.mark.django_db
def test_halfvec_and_vector_indexes_walk_exactly_k(store):
    for kind in ("halfvec", "vector"):
        indexed = vector_index.indexed_expression(kind)
        assert not indexed.rerank and indexed.operator is None


@pytest.mark.django_db
def test_an_unknown_index_kind_is_refused_before_anything_is_written(store):
    with pytest.raises(InvalidInput, match="unknown vector index"):
        store.create_collection("nope", dimension=DIM, model=MODEL, index="ivfflat")
    assert [c.name for c in store.list_collections()] == []


@pytest.mark.django_db
def test_an_existing_collection_keeps_its_index_kind(store):
    store.create_collection("keep", dimension=DIM, model=MODEL, index="vector")
    store.create_collection("keep", dimension=DIM, model=MODEL, index="binary")
    assert store.get_spec("keep").index_type == "vector"
