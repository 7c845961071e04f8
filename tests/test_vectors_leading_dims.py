"""Collections whose vectors use only their leading components (a 384-d model zero-padded to
1536): create_collection(index_dimensions=...) indexes those only, through live writes, staged
bulk loads and rebuilds, with the same hits and distances as a full-width collection; vectors
with a non-zero tail are refused; content's MiniLM collections ask for it."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from content import vector_slices
from content.embeddings import native_dimension
from core.storage.ports import InvalidInput, VectorItem
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name

DIM, USED = 1536, 384
MODEL = "model-lead"


@pytest.fixture
def store() -> PostgresVectorStore:
    return PostgresVectorStore()


def padded(count: int, seed: int) -> np.ndarray:
    """Clustered 384-d vectors, normalised and zero-padded to 1536."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((16, USED)).astype(np.float32)
    lead = rng.standard_normal((count, 16)).astype(np.float32) @ basis
    lead += 0.3 * rng.standard_normal((count, USED)).astype(np.float32)
    out = np.zeros((count, DIM), np.float32)
    out[:, :USED] = lead / np.linalg.norm(lead, axis=1, keepdims=True)
    return out


def items(matrix: np.ndarray) -> list[VectorItem]:
    return [VectorItem(f"k{i:04d}", matrix[i]) for i in range(len(matrix))]


def definition(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
        return row[0] if row else ""


def hits(store: PostgresVectorStore, name: str, query: np.ndarray) -> list[tuple[str, float]]:
    return [(h.key, round(h.distance, 5)) for h in store.search(name, query, model=MODEL, k=10)]


@pytest.mark.django_db
def test_the_index_covers_the_leading_components_with_the_same_answers(store):
    store.create_collection("lead", dimension=DIM, model=MODEL, index_dimensions=USED)
    store.create_collection("full", dimension=DIM, model=MODEL)
    spec = store.get_spec("lead")
    assert (spec.index_type, spec.index_dimensions) == ("halfvec", USED)
    assert "subvector(embedding, 1, 384)" in definition(hnsw_index_name(spec.id, "halfvec"))
    assert "halfvec(384)" in definition(hnsw_index_name(spec.id, "halfvec"))
    assert store.get_spec("full").index_dimensions == DIM
    matrix = padded(800, 1)
    store.upsert("lead", items(matrix), model=MODEL)
    store.upsert("full", items(matrix), model=MODEL)
    statement = store.search_statement(spec, matrix[0], 10, None, [])
    assert "subvector(" in statement.query
    rng = np.random.default_rng(2)
    for _ in range(10):
        query = matrix[int(rng.integers(800))].copy()
        query[:USED] += 0.05 * rng.standard_normal(USED).astype(np.float32)
        exact = np.argsort(1.0 - matrix @ (query / np.linalg.norm(query)), kind="stable")[:10]
        assert [k for k, _ in hits(store, "lead", query)] == [f"k{i:04d}" for i in exact]
        assert hits(store, "lead", query) == hits(store, "full", query)  # same hits, same exact distances


@pytest.mark.django_db
def test_a_vector_with_a_non_zero_tail_is_refused_and_nothing_is_written(store):
    store.create_collection("tail", dimension=DIM, model=MODEL, index_dimensions=USED)
    matrix = padded(3, 3)
    bad = matrix.copy()
    bad[2, USED + 7] = 0.01
    with pytest.raises(InvalidInput, match="vector 2 has non-zero components beyond the first 384"):
        store.upsert("tail", items(bad), model=MODEL)
    assert store.count("tail") == 0
    store.upsert("tail", items(matrix), model=MODEL)
    assert store.count("tail") == 3


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, 1537, -3, True, "384", 2.5])
def test_bad_index_dimensions_are_refused(store, value):
    with pytest.raises(InvalidInput, match="index_dimensions"):
        store.create_collection("bad", dimension=DIM, model=MODEL, index_dimensions=value)
    assert [c.name for c in store.list_collections() if c.name == "bad"] == []


@pytest.mark.django_db(transaction=True)
def test_staged_loads_and_rebuilds_keep_the_leading_index(store, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 100
    settings.STRATA_VECTOR_LIVE_BATCH = 500
    store.create_collection("staged", dimension=DIM, model=MODEL, index_dimensions=USED, index="halfvec")
    matrix = padded(600, 4)
    with store.bulk_load("staged", model=MODEL, rows=600) as load:
        assert load.staged
        load.add(items(matrix))
    spec = store.get_spec("staged")
    assert spec.index_dimensions == USED
    assert "subvector(embedding, 1, 384)" in definition(hnsw_index_name(spec.id, "halfvec"))
    assert store.rebuild_index("staged", index_type="binary") == "binary"
    spec = store.get_spec("staged")
    assert "bit(384)" in definition(hnsw_index_name(spec.id, "binary"))
    query = matrix[5]
    assert store.search("staged", query, model=MODEL, k=1)[0].key == "k0005"


@pytest.mark.django_db
def test_content_collections_of_a_smaller_model_index_its_dimensions(store):
    assert native_dimension("sentence-transformers/all-MiniLM-L6-v2") == USED
    assert native_dimension("hashing-v2") == DIM
    vector_slices.ensure_collection(store, "minilm-ws", "sentence-transformers/all-MiniLM-L6-v2")
    vector_slices.ensure_collection(store, "hashing-ws", "hashing-v2")
    assert store.get_spec("minilm-ws").index_dimensions == USED
    assert store.get_spec("hashing-ws").index_dimensions == DIM


@pytest.mark.django_db(transaction=True)
def test_vector_reindex_moves_an_existing_collection_to_its_leading_dimensions(store):
    from io import StringIO

    from django.core.management import CommandError, call_command

    store.create_collection("old", dimension=DIM, model=MODEL)  # from before: all 1536 indexed
    matrix = padded(300, 5)
    store.upsert("old", items(matrix), model=MODEL)
    before = hits(store, "old", matrix[3])
    call_command("vector_reindex", "old", "--index-dimensions", "384", stdout=StringIO())
    spec = store.get_spec("old")
    assert spec.index_dimensions == USED
    assert "subvector(embedding, 1, 384)" in definition(hnsw_index_name(spec.id, "halfvec"))
    assert hits(store, "old", matrix[3]) == before
    listing = StringIO()
    call_command("vector_reindex", "--list", stdout=listing)
    assert "old\thalfvec\t384 dimensions indexed" in listing.getvalue()
    # a collection whose vectors use all their components keeps its index
    store.create_collection("wide", dimension=DIM, model=MODEL)
    wide = np.random.default_rng(6).standard_normal((5, DIM)).astype(np.float32)
    store.upsert("wide", items(wide), model=MODEL)
    with pytest.raises(CommandError, match="non-zero components beyond the first 384"):
        call_command("vector_reindex", "wide", "--index-dimensions", "384", stdout=StringIO())
    assert store.get_spec("wide").index_dimensions == DIM
    with pytest.raises(CommandError, match="index_dimensions must be"):
        call_command("vector_reindex", "wide", "--index-dimensions", "0", stdout=StringIO())
