"""ef_search chosen by the collection's size (core.storage.hnsw), and how the pgvector adapter
learns the size (its HNSW index's statistics)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from django.db import connection

from core.storage import hnsw
from core.storage.ports import VectorItem
from core.storage.postgres import vector_index
from core.storage.postgres.vectors import PostgresVectorStore

DIM = 1536
MODEL = "model-a"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (None, 60),  # unknown size: the base
        (-1, 60),  # never analyzed
        (0, 60),
        (20_000, 60),
        (100_000, 60),  # 0.998 recall@10 at 60 (README, Vectors at scale)
        (316_228, 80),
        (1_000_000, 100),  # 0.946 at 60, 0.970 at 100 (README, 1M vectors)
        (10_000_000, 140),
    ],
)
def test_ef_search_grows_with_the_collection_from_100k(settings, rows, expected):
    settings.STRATA_HNSW_EF_SEARCH = None
    assert hnsw.ef_search_for(rows) == expected


def test_ef_search_is_at_least_k_and_at_most_pgvectors_bound(settings):
    settings.STRATA_HNSW_EF_SEARCH = None
    assert hnsw.ef_search_for(1_000_000, k=300) == 300
    assert hnsw.ef_search_for(10**30) == 1000
    settings.STRATA_HNSW_EF_SEARCH = 5000
    assert hnsw.ef_search_for(10) == 1000


def test_the_setting_overrides_the_rule_for_every_size(settings):
    settings.STRATA_HNSW_EF_SEARCH = 77
    assert {hnsw.ef_search_for(rows) for rows in (None, 10, 100_000, 1_000_000, 10**8)} == {77}
    assert hnsw.ef_search_for(1_000_000, k=90) == 90


@pytest.mark.django_db
@pytest.mark.parametrize("index_type", vector_index.INDEX_TYPES)
def test_the_store_reads_the_collections_size_from_its_index_and_picks_ef_search(settings, index_type):
    settings.STRATA_HNSW_EF_SEARCH = None
    settings.STRATA_VECTOR_BINARY_CANDIDATES = 10  # a binary index is walked for max(ef_search, these)
    store = PostgresVectorStore()
    store.create_collection("sized", dimension=DIM, model=MODEL, index=index_type)
    store.create_collection("other", dimension=DIM, model=MODEL, index=index_type)
    rng = np.random.default_rng(3)
    store.upsert("sized", [VectorItem(f"k{i}", rng.standard_normal(DIM)) for i in range(240)], model=MODEL)
    store.upsert("other", [VectorItem(f"k{i}", rng.standard_normal(DIM)) for i in range(30)], model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    spec = store.get_spec("sized")
    assert spec.rows_estimate == 240  # this collection's index, not the table's 270 rows
    assert store.get_spec("other").rows_estimate == 30
    query = np.ones(DIM, np.float32)
    assert dict(store.search_statement(spec, query, 10, None, []).settings)["hnsw.ef_search"] == "60"
    grown = dataclasses.replace(spec, rows_estimate=1_000_000.0)
    assert dict(store.search_statement(grown, query, 10, None, []).settings)["hnsw.ef_search"] == "100"
    settings.STRATA_HNSW_EF_SEARCH = 45
    assert dict(store.search_statement(grown, query, 10, None, []).settings)["hnsw.ef_search"] == "45"
    assert len(store.search("sized", query, model=MODEL, k=10)) == 10
