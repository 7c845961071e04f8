"""PostgresVectorStore: the contract suite plus what is specific to pgvector."""

from __future__ import annotations

import numpy as np
import psycopg
import psycopg.sql
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.storage import get_vector_store
from core.storage.ports import InvalidInput, UnknownCollection, VectorItem
from core.storage.postgres.vector_collections import StoredCollection
from core.storage.postgres.vectors import (
    PostgresVectorStore,
    hnsw_index_name,
    parallel_hnsw_build_is_safe,
)
from tests.contracts.vector_contract import VectorStoreContract
from tests.unreachable import unreachable_database

DIM = 1536
MODEL = "model-a"
_SPEC = StoredCollection(name="s", dimension=DIM, model=MODEL, metric="cosine", id=1)


class Boom(Exception):
    pass


@pytest.fixture
def vectors() -> PostgresVectorStore:
    return PostgresVectorStore()


@pytest.mark.django_db
class TestPostgresVectorStore(VectorStoreContract):
    @pytest.fixture
    def store(self, vectors):
        return vectors

    @pytest.fixture
    def unavailable_store(self):
        with unreachable_database() as alias:
            yield PostgresVectorStore(using=alias)


def _random_items(rng: np.random.Generator, count: int, prefix: str = "k", **metadata) -> list[VectorItem]:
    matrix = rng.standard_normal((count, DIM)).astype(np.float32)
    return [VectorItem(f"{prefix}{i}", matrix[i], {"i": i, **metadata}) for i in range(count)]


def _collection_id(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM strata_vector_collection WHERE name = %s", [name])
        return cursor.fetchone()[0]


def _index_definition(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def _show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [setting])
        return cursor.fetchone()[0]


def _captured_search(ctx: CaptureQueriesContext) -> str:
    return next(q["sql"] for q in ctx.captured_queries if "AS nearest" in q["sql"])


def _plan_scans(sql: str, *settings: str) -> list[str]:
    """EXPLAIN ``sql`` in a savepoint with ``SET LOCAL`` settings; the lines naming scans."""
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in settings:
            cursor.execute(setting)
        cursor.execute("EXPLAIN (COSTS OFF) " + sql)
        return [row[0].strip() for row in cursor.fetchall() if "Scan" in row[0]]


# ---------------------------------------------------------------- collections and the HNSW index


@pytest.mark.django_db
def test_it_is_the_configured_default_vector_store():
    assert isinstance(get_vector_store("content"), PostgresVectorStore)


@pytest.mark.django_db
@pytest.mark.parametrize("dimension", [384, 768, 3072])
def test_dimensions_other_than_1536_are_refused_with_a_clear_error(vectors, dimension):
    with pytest.raises(InvalidInput) as error:
        vectors.create_collection("other-dim", dimension=dimension, model=MODEL)
    assert str(dimension) in str(error.value) and "1536" in str(error.value)
    with pytest.raises(UnknownCollection):
        vectors.get_collection("other-dim")


@pytest.mark.django_db
@pytest.mark.parametrize("metric,ops", [("cosine", "cosine_ops"), ("l2", "l2_ops"), ("inner_product", "ip_ops")])
@pytest.mark.parametrize("index_type", ["halfvec", "vector"])
def test_create_collection_builds_a_partial_hnsw_index_for_that_collection(vectors, settings, metric, ops, index_type):
    settings.STRATA_HNSW_M = 12
    settings.STRATA_HNSW_EF_CONSTRUCTION = 48
    settings.STRATA_VECTOR_INDEX = index_type
    vectors.create_collection("indexed", dimension=DIM, model=MODEL, metric=metric)
    collection_id = _collection_id("indexed")
    definition = _index_definition(hnsw_index_name(collection_id, index_type))
    assert definition is not None
    if index_type == "halfvec":  # an expression index; the column stays VECTOR(1536)
        assert f"USING hnsw (((embedding)::halfvec(1536)) halfvec_{ops})" in definition
    else:
        assert f"USING hnsw (embedding vector_{ops})" in definition
    assert "m='12'" in definition and "ef_construction='48'" in definition
    assert definition.endswith(f"WHERE (collection_id = {collection_id})")


@pytest.mark.django_db
def test_each_collection_has_its_own_index_and_drop_removes_it(vectors):
    vectors.create_collection("one", dimension=DIM, model=MODEL)
    vectors.create_collection("two", dimension=DIM, model=MODEL)
    one, two = hnsw_index_name(_collection_id("one")), hnsw_index_name(_collection_id("two"))
    assert one != two
    vectors.upsert("one", _random_items(np.random.default_rng(0), 5), model=MODEL)
    vectors.drop_collection("one")
    assert _index_definition(one) is None
    assert _index_definition(two) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM strata_vector")
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(
    "version,safe",
    [
        ("0.6.0", False),
        ("0.8.1", False),
        ("0.8.2", True),
        ("0.8.4", True),
        ("0.10.0", True),
        ("1.0.0", True),
        ("0.8.1-dev", False),
        (None, False),
        ("", False),
    ],
)
def test_parallel_hnsw_builds_are_only_trusted_from_pgvector_0_8_2(version, safe):
    assert parallel_hnsw_build_is_safe(version) is safe


@pytest.mark.django_db
def test_the_index_build_respects_cve_2026_3172(vectors):
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        version = cursor.fetchone()[0]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_maintenance_workers = 2")
        vectors.create_collection("cve", dimension=DIM, model=MODEL)
        # SET LOCAL outlives the adapter's savepoint, so the setting the build ran with is visible here.
        # The embedded server ships pgvector 0.8.1: serial build. From 0.8.2 the setting is left alone.
        expected = "2" if parallel_hnsw_build_is_safe(version) else "0"
        assert _show("max_parallel_maintenance_workers") == expected


@pytest.mark.django_db
def test_recreating_an_identical_collection_does_not_rebuild_the_index(vectors):
    vectors.create_collection("c", dimension=DIM, model=MODEL)
    with CaptureQueriesContext(connection) as ctx:
        vectors.create_collection("c", dimension=DIM, model=MODEL)
    assert not [q for q in ctx.captured_queries if "CREATE INDEX" in q["sql"]]


# ---------------------------------------------------------------- transactions


@pytest.mark.django_db(transaction=True)
def test_rollback_of_the_callers_transaction_leaves_nothing_written(vectors):
    def hnsw_indexes() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'strata_vector_hnsw_%%'")
            return cursor.fetchone()[0]

    before = hnsw_indexes()  # earlier transactional tests may leave indexes behind (flush truncates rows only)
    vectors.create_collection("kept", dimension=DIM, model=MODEL)
    rng = np.random.default_rng(1)
    with pytest.raises(Boom), transaction.atomic():
        vectors.create_collection("rolled-back", dimension=DIM, model=MODEL)
        vectors.upsert("kept", _random_items(rng, 10), model=MODEL)
        vectors.upsert("rolled-back", _random_items(rng, 3), model=MODEL)
        assert vectors.count("kept") == 10  # visible inside the transaction
        raise Boom
    assert vectors.count("kept") == 0
    with pytest.raises(UnknownCollection):
        vectors.get_collection("rolled-back")
    assert hnsw_indexes() == before + 1  # only "kept"'s index; the rolled-back one is gone too


@pytest.mark.django_db(transaction=True)
def test_upserts_commit_with_the_callers_transaction_and_twice_in_one_transaction(vectors):
    vectors.create_collection("c", dimension=DIM, model=MODEL)
    rng = np.random.default_rng(2)
    with transaction.atomic():
        vectors.upsert("c", _random_items(rng, 4, prefix="a"), model=MODEL)
        vectors.upsert("c", _random_items(rng, 3, prefix="b"), model=MODEL)  # the staging table is reused
    assert vectors.count("c") == 7
    vectors.upsert("c", _random_items(rng, 2, prefix="c"), model=MODEL)  # autocommit mode
    assert vectors.count("c") == 9


# ---------------------------------------------------------------- upsert


@pytest.mark.django_db
def test_upsert_is_one_set_based_insert(vectors):
    vectors.create_collection("c", dimension=DIM, model=MODEL)
    with CaptureQueriesContext(connection) as ctx:
        assert vectors.upsert("c", _random_items(np.random.default_rng(3), 200), model=MODEL) == 200
    inserts = [q["sql"] for q in ctx.captured_queries if "INSERT INTO strata_vector" in q["sql"]]
    assert len(inserts) == 1 and "ON CONFLICT (collection_id, key) DO UPDATE" in inserts[0]
    assert vectors.count("c") == 200


@pytest.mark.django_db
def test_upsert_stores_float32_exactly(vectors):
    vectors.create_collection("c", dimension=DIM, model=MODEL)
    vector = np.random.default_rng(4).standard_normal(DIM).astype(np.float32)
    vectors.upsert("c", [VectorItem("k", vector, {"ü": "✓"})], model=MODEL)
    got = vectors.get("c", "k")
    assert np.array_equal(np.asarray(got.vector, dtype=np.float32), vector)
    assert got.metadata == {"ü": "✓"}


@pytest.mark.django_db
def test_zero_vectors_are_refused_for_cosine_only(vectors):
    vectors.create_collection("cos", dimension=DIM, model=MODEL)
    vectors.create_collection("l2", dimension=DIM, model=MODEL, metric="l2")
    with pytest.raises(InvalidInput):
        vectors.upsert("cos", [VectorItem("zero", [0.0] * DIM)], model=MODEL)
    with pytest.raises(InvalidInput):
        vectors.search("cos", [0.0] * DIM, model=MODEL)
    assert vectors.upsert("l2", [VectorItem("zero", [0.0] * DIM)], model=MODEL) == 1
    assert [hit.key for hit in vectors.search("l2", [0.0] * DIM, model=MODEL)] == ["zero"]


# ---------------------------------------------------------------- search


@pytest.fixture
def searchable(vectors):
    """300 random vectors; five of them (r0..r4) carry the rare metadata and sit far from the query."""
    vectors.create_collection("s", dimension=DIM, model=MODEL)
    rng = np.random.default_rng(5)
    query = rng.standard_normal(DIM).astype(np.float32)
    common = _random_items(rng, 295, prefix="c", rare=False)
    rare = [VectorItem(f"r{i}", -query + 0.1 * rng.standard_normal(DIM), {"rare": True}) for i in range(5)]
    vectors.upsert("s", common + rare, model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    return query


# Small tables are (rightly) searched exactly with a sort; these settings leave the planner only
# the HNSW index, which it can use only if the query's predicate matches the partial index's.
ONLY_INDEX_ORDER = (
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL enable_sort = off",
)


@pytest.mark.django_db
@pytest.mark.parametrize("metadata_filter", [None, {"rare": True}])
def test_search_can_use_the_collections_partial_hnsw_index(vectors, searchable, metadata_filter):
    with CaptureQueriesContext(connection) as ctx:
        vectors.search("s", searchable, model=MODEL, k=5, filter=metadata_filter)
    sql = _captured_search(ctx)
    collection_id = _collection_id("s")
    assert f"collection_id = {collection_id}" in sql  # a literal, so the partial index predicate can match
    scans = _plan_scans(sql, *ONLY_INDEX_ORDER)
    assert any(f"Index Scan using {hnsw_index_name(collection_id)}" in scan for scan in scans), scans


@pytest.mark.django_db
def test_search_settings_are_undone_after_the_query_even_inside_a_transaction(vectors, searchable, settings):
    settings.STRATA_HNSW_EF_SEARCH = 77
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = 33")
        before = {name: _show(name) for name in ("hnsw.ef_search", "hnsw.iterative_scan", "enable_sort")}
        vectors.search("s", searchable, model=MODEL, k=5)
        vectors.search("s", searchable, model=MODEL, k=5, filter={"rare": True})
        assert {name: _show(name) for name in before} == before
        assert before["hnsw.ef_search"] == "33"
        assert _show("plan_cache_mode") == "auto"


def test_search_settings_are_what_the_query_runs_with(vectors, settings):
    settings.STRATA_HNSW_EF_SEARCH = 77
    spec = _SPEC
    plain = dict(vectors.search_statement(spec, np.ones(DIM, np.float32), 5, None, []).settings)
    assert plain == {
        "plan_cache_mode": "force_custom_plan",
        "hnsw.ef_search": "77",
        "hnsw.iterative_scan": "off",
        "enable_sort": "off",
        "random_page_cost": "1.1",
        "cpu_index_tuple_cost": "0.05",
    }
    where = psycopg.sql.SQL("TRUE")
    assert (
        dict(vectors.search_statement(spec, np.ones(DIM, np.float32), 5, where, []).settings)["hnsw.iterative_scan"]
        == "relaxed_order"
    )
    assert (
        dict(vectors.search_statement(spec, np.ones(DIM, np.float32), 300, None, []).settings)["hnsw.ef_search"]
        == "300"
    )  # never below k, or the index would return fewer hits


@pytest.mark.django_db(transaction=True)
def test_search_settings_do_not_outlive_the_transaction(vectors, settings):
    settings.STRATA_HNSW_EF_SEARCH = 77
    vectors.create_collection("s", dimension=DIM, model=MODEL)
    vectors.upsert("s", _random_items(np.random.default_rng(6), 3), model=MODEL)
    before = _show("hnsw.ef_search")
    assert vectors.search("s", [1.0] * DIM, model=MODEL, k=2, filter={"i": 1})[0].key == "k1"
    assert _show("hnsw.ef_search") == before != "77"
    assert _show("hnsw.iterative_scan") in {None, "off"}


@pytest.mark.django_db
def test_filtered_search_finds_k_hits_through_the_index_thanks_to_iterative_scan(vectors, searchable, settings):
    settings.STRATA_HNSW_EF_SEARCH = 10
    settings.STRATA_VECTOR_EXACT_MAX_ROWS = 0  # the HNSW path even for 5 matching rows
    with transaction.atomic():
        with connection.cursor() as cursor:
            for setting in ONLY_INDEX_ORDER:
                cursor.execute(setting)
        with CaptureQueriesContext(connection) as ctx:
            hits = vectors.search("s", searchable, model=MODEL, k=5, filter={"rare": True})
        assert sorted(hit.key for hit in hits) == ["r0", "r1", "r2", "r3", "r4"]
        assert [hit.distance for hit in hits] == sorted(hit.distance for hit in hits)
        # The same query without iterative scan: the index yields only ef_search=10 candidates,
        # all common, so the filter leaves (almost) nothing. This is what the setting fixes.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.iterative_scan = off")
            cursor.execute(_captured_search(ctx))
            assert len(cursor.fetchall()) < 5


@pytest.mark.django_db
def test_search_is_exact_on_small_collections(vectors, searchable):
    hits = vectors.search("s", searchable, model=MODEL, k=10)
    assert vectors.count("s") == 300
    # brute force in numpy over every stored vector
    stored = {}
    for key in [f"c{i}" for i in range(295)] + [f"r{i}" for i in range(5)]:
        stored[key] = np.asarray(vectors.get("s", key).vector, dtype=np.float64)
    q = searchable.astype(np.float64)
    similarity = {key: float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q))) for key, v in stored.items()}
    expected = sorted(similarity, key=lambda key: -similarity[key])[:10]
    assert [hit.key for hit in hits] == expected
    for hit in hits:
        assert hit.score == pytest.approx(similarity[hit.key], abs=1e-5)


# ---------------------------------------------------------------- one round trip, binary, unprepared


@pytest.mark.django_db
def test_search_sends_the_vector_as_a_binary_parameter_and_never_prepares(vectors, searchable):
    raw = connection.connection
    for _ in range(12):  # psycopg prepares a statement after 5 executions unless told not to
        vectors.search("s", searchable, model=MODEL, k=5, filter={"rare": True})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert not [statement for statement in prepared if "strata_vector" in statement], prepared
    assert raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # the test's own transaction


def _lock_vectors_elsewhere() -> psycopg.Connection:
    """Another session holding an ACCESS EXCLUSIVE lock on strata_vector (until it is closed)."""
    other = psycopg.connect(**connection.get_connection_params())
    other.execute("LOCK TABLE strata_vector IN ACCESS EXCLUSIVE MODE")
    return other


@pytest.mark.django_db(transaction=True)
def test_a_failed_search_leaves_no_transaction_open(vectors):
    vectors.create_collection("s", dimension=DIM, model=MODEL)
    vectors.upsert("s", _random_items(np.random.default_rng(8), 3), model=MODEL)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '50ms'")
    other = _lock_vectors_elsewhere()
    try:
        with pytest.raises(DatabaseError, match="lock timeout"):
            vectors.search("s", [1.0] * DIM, model=MODEL, k=2)
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert len(vectors.search("s", [1.0] * DIM, model=MODEL, k=2)) == 2
    assert _show("enable_sort") == "on"  # the search's settings ended with its transaction


@pytest.mark.django_db(transaction=True)
def test_a_failed_search_inside_a_transaction_leaves_the_callers_transaction_usable(vectors):
    vectors.create_collection("s", dimension=DIM, model=MODEL)
    vectors.upsert("s", _random_items(np.random.default_rng(9), 3), model=MODEL)
    other = _lock_vectors_elsewhere()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE caller_writes (n int) ON COMMIT DROP")
            cursor.execute("INSERT INTO caller_writes VALUES (1)")
            cursor.execute("SET LOCAL lock_timeout = '50ms'")
            with pytest.raises(DatabaseError, match="lock timeout"):
                vectors.search("s", [1.0] * DIM, model=MODEL, k=2)
            other.close()
            cursor.execute("INSERT INTO caller_writes VALUES (2)")  # the caller's transaction goes on
            cursor.execute("SELECT sum(n) FROM caller_writes")
            assert cursor.fetchone()[0] == 3
            assert len(vectors.search("s", [1.0] * DIM, model=MODEL, k=2)) == 2
    finally:
        other.close()
