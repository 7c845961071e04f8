"""The pgvector query path the planner cannot wreck (core.storage.postgres.vector_query)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.storage.filters import Eq
from core.storage.ports import VectorItem
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name

DIM = 1536
MODEL = "model-a"
ROWS = 400


@pytest.fixture
def store() -> PostgresVectorStore:
    return PostgresVectorStore()


@pytest.fixture
def corpus(store):
    """400 random unit vectors: every row has group 'all', one in ten also 'tenth'."""
    store.create_collection("p", dimension=DIM, model=MODEL)
    rng = np.random.default_rng(9)
    matrix = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    items = [
        VectorItem(f"k{i:03d}", matrix[i], {"groups": ["all", "tenth"] if i % 10 == 0 else ["all"]})
        for i in range(ROWS)
    ]
    store.upsert("p", items, model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    return matrix, rng.standard_normal(DIM).astype(np.float32)


def _exact(matrix: np.ndarray, query: np.ndarray, rows: list[int], k: int) -> list[str]:
    q = query / np.linalg.norm(query)
    distance = 1.0 - matrix[rows] @ q
    order = np.argsort(distance, kind="stable")[:k]
    return [f"k{rows[i]:03d}" for i in order]


def _explain(sql: str, settings: list[tuple[str, str]], *, analyze: bool) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        options = "ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF" if analyze else "COSTS OFF"
        cursor.execute(f"EXPLAIN ({options}) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _search_sql(ctx: CaptureQueriesContext) -> str:
    return next(q["sql"] for q in ctx.captured_queries if "FROM strata_vector" in q["sql"] and "AS nearest" in q["sql"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("group", "expected_path", "matching"),
    [
        ("none", None, []),  # no match
        ("tenth", "exact", list(range(0, ROWS, 10))),  # 40 rows <= the cap of 50
        ("all", "hnsw", list(range(ROWS))),  # 400 rows > 50
    ],
)
def test_the_three_paths_return_the_hits_of_an_exact_scan(store, corpus, settings, group, expected_path, matching):
    settings.STRATA_VECTOR_EXACT_MAX_ROWS = 50
    settings.STRATA_HNSW_EF_SEARCH = 400  # HNSW over 400 rows with ef_search 400 finds the true top 10
    matrix, query = corpus
    spec = store._checked("p", MODEL)
    rows = store.search_rows(spec, query, 10, Eq("groups", group))
    assert [key for key, *_ in rows] == _exact(matrix, query, matching, 10)
    assert {path for *_, path in rows} == ({expected_path} if expected_path else set())
    distances = [distance for _, _, distance, _ in rows]
    assert distances == sorted(distances)
    # the public search agrees
    hits = store.search("p", query, model=MODEL, k=10, filter={"groups": group})
    assert [hit.key for hit in hits] == [key for key, *_ in rows]


@pytest.mark.django_db
def test_no_match_answers_without_reading_a_vector(store, corpus, settings):
    settings.STRATA_VECTOR_EXACT_MAX_ROWS = 50
    _, query = corpus
    with CaptureQueriesContext(connection) as ctx:
        assert store.search("p", query, model=MODEL, k=10, filter={"groups": "none"}) == []
    spec = store._checked("p", MODEL)
    statement_settings = store.search_statement(spec, query, 10, None, []).settings
    plan = _explain(_search_sql(ctx), statement_settings, analyze=True)
    index = hnsw_index_name(spec.id)
    hnsw_line = next(line for line in plan.splitlines() if f"Index Scan using {index}" in line)
    assert "never executed" in hnsw_line, plan
    assert plan.count("never executed") >= 2, plan  # both branches skipped by their one-time filters


@pytest.mark.django_db
def test_custom_plan_guard_a_filtered_query_run_many_times_keeps_the_index(store, corpus, settings):
    """psycopg prepares a statement after 5 executions, and PostgreSQL may then switch to a generic
    plan (a sequential scan and a sort); the search must keep using the HNSW index."""
    settings.STRATA_VECTOR_EXACT_MAX_ROWS = 50
    matrix, query = corpus
    spec = store._checked("p", MODEL)
    first = store.search("p", query, model=MODEL, k=10, filter={"groups": "all"})
    for _ in range(8):
        with CaptureQueriesContext(connection) as ctx:
            again = store.search("p", query, model=MODEL, k=10, filter={"groups": "all"})
        assert again == first
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%strata_vector%%'")
        assert cursor.fetchall() == []
    statement_settings = store.search_statement(spec, query, 10, None, []).settings
    plan = _explain(_search_sql(ctx), statement_settings, analyze=True)
    index = hnsw_index_name(spec.id)
    hnsw_line = next(line for line in plan.splitlines() if f"Index Scan using {index}" in line)
    assert "never executed" not in hnsw_line, plan  # the broad filter ran through the HNSW index
