"""PostgresDocumentStore: the contract suite plus what is specific to PostgreSQL/JSONB."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.storage import get_document_store
from core.storage.ports import InvalidInput, InvalidName, UnknownCollection
from core.storage.postgres.documents import PostgresDocumentStore
from tests.contracts.document_contract import DocumentStoreContract
from tests.unreachable import unreachable_database


class Boom(Exception):
    pass


@pytest.fixture
def docs() -> PostgresDocumentStore:
    return PostgresDocumentStore()


@pytest.mark.django_db
class TestPostgresDocumentStore(DocumentStoreContract):
    @pytest.fixture
    def store(self, docs):
        return docs

    @pytest.fixture
    def unavailable_store(self):
        with unreachable_database() as alias:
            yield PostgresDocumentStore(using=alias)


@pytest.mark.django_db(databases=["default", "documents"])
class TestDedicatedPostgresDocumentStore(DocumentStoreContract):
    """The same adapter on the dedicated ``documents`` database: outside the caller's transaction."""

    @pytest.fixture
    def store(self):
        return PostgresDocumentStore(using="documents")

    @pytest.fixture
    def unavailable_store(self):
        with unreachable_database() as alias:
            yield PostgresDocumentStore(using=alias)

    def test_it_does_not_join_the_default_transaction(self, store):
        assert store.features.joins_db_transaction is False

    def test_the_documents_database_holds_only_the_document_tables(self, store):
        from django.db import connections

        with connections["documents"].cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            tables = [row[0] for row in cursor.fetchall()]
        assert tables == ["django_migrations", "strata_document", "strata_document_collection"]


def _plan(sql: str, params=None) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _captured_select(ctx: CaptureQueriesContext) -> str:
    return next(q["sql"] for q in reversed(ctx.captured_queries) if q["sql"].startswith("SELECT key"))


@pytest.mark.django_db
def test_it_is_the_configured_default_document_store():
    assert isinstance(get_document_store("content"), PostgresDocumentStore)


@pytest.mark.django_db
def test_collection_names_allow_200_characters_of_the_pattern(docs):
    name = "A-z_0.9:" + "x" * 192
    docs.create_collection(name)
    docs.put(name, "d", {"ok": True})
    assert docs.get(name, "d") == {"ok": True}
    with pytest.raises(InvalidName):
        docs.create_collection(name + "x")


@pytest.mark.django_db(transaction=True)
def test_rollback_of_the_callers_transaction_leaves_nothing_written(docs):
    docs.create_collection("committed")
    with pytest.raises(Boom), transaction.atomic():
        docs.create_collection("rolled-back")
        docs.put("committed", "a", {"n": 1})
        docs.put_many("committed", [("b", {"n": 2}), ("c", {"n": 3})])
        assert docs.count("committed") == 3  # visible inside the transaction
        raise Boom
    assert docs.count("committed") == 0
    with pytest.raises(UnknownCollection):
        docs.get("rolled-back", "a")


@pytest.mark.django_db(transaction=True)
def test_writes_commit_with_the_callers_transaction(docs):
    with transaction.atomic():
        docs.create_collection("committed")
        docs.put("committed", "a", {"n": 1})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.body::text FROM strata_document d JOIN strata_document_collection c ON c.id = d.collection_id "
            "WHERE c.name = 'committed' AND d.key = 'a'"
        )
        assert cursor.fetchone() == ('{"n": 1}',)


@pytest.mark.django_db
def test_a_bad_json_path_leaves_the_callers_transaction_usable(docs):
    docs.create_collection("c")
    with transaction.atomic():
        docs.put("c", "a", {"n": 1})
        with pytest.raises(InvalidInput) as error:
            docs.find("c", path="$.[")
        assert "syntax error" in str(error.value)
        docs.put("c", "b", {"n": 2})  # would fail with "current transaction is aborted" without a savepoint
    assert docs.find_ids("c") == ["a", "b"]


@pytest.mark.django_db
def test_documents_are_stored_as_jsonb(docs):
    docs.create_collection("c")
    docs.put("c", "a", '{"b": 1, "a": [true, null]}')
    with connection.cursor() as cursor:
        cursor.execute("SELECT jsonb_typeof(body), body -> 'a' ->> 0 FROM strata_document WHERE key = 'a'")
        assert cursor.fetchone() == ("object", "true")


@pytest.mark.django_db
def test_put_many_is_one_insert_statement(docs):
    docs.create_collection("c")
    with CaptureQueriesContext(connection) as ctx:
        docs.put_many("c", [(f"d{i}", {"i": i}) for i in range(300)])
    inserts = [q for q in ctx.captured_queries if q["sql"].lstrip().startswith("INSERT")]
    assert len(inserts) == 1
    assert docs.count("c") == 300


@pytest.fixture
def many_docs(docs):
    """3,000 documents of which one matches, with fresh statistics and the GIN pending list merged
    (the state autovacuum keeps a table in), so the planner chooses on its own (no planner settings)."""
    docs.create_collection("big")
    rows = [(f"d{i:05d}", {"kind": "common", "n": i, "tags": ["x", f"t{i}"]}) for i in range(3000)]
    rows[1234] = ("d01234", {"kind": "rare", "n": 1234, "tags": ["ai"]})
    docs.put_many("big", rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", ["strata_document_body_gin"])
        cursor.execute("ANALYZE strata_document")
    return "big"


@pytest.mark.django_db
def test_containment_query_uses_the_gin_index(docs, many_docs):
    with CaptureQueriesContext(connection) as ctx:
        found = docs.find(many_docs, contains={"kind": "rare"})
    assert [d.id for d in found] == ["d01234"]
    sql = _captured_select(ctx)
    assert "body @> " in sql
    plan = _plan(sql)
    assert "strata_document_body_gin" in plan, plan


@pytest.mark.django_db
def test_json_path_query_uses_the_gin_index(docs, many_docs):
    with CaptureQueriesContext(connection) as ctx:
        found = docs.find(many_docs, path='$.tags[*] ? (@ == "ai")')
    assert [d.id for d in found] == ["d01234"]
    sql = _captured_select(ctx)
    assert "body @? " in sql
    plan = _plan(sql)
    assert "strata_document_body_gin" in plan, plan


@pytest.mark.django_db
def test_values_are_bound_not_formatted(docs):
    """A hostile id and filter are stored and matched as data."""
    docs.create_collection("c")
    hostile = "x'); DROP TABLE strata_document; --"
    docs.put("c", hostile, {"q": "'; DELETE FROM strata_document; --"})
    assert docs.find_ids("c", contains={"q": "'; DELETE FROM strata_document; --"}) == [hostile]
    assert docs.count("c") == 1
