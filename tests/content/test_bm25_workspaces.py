"""Each workspace's own BM25 indexes (content.bm25_workspaces): its full-text results and scores do
not depend on other workspaces' data, queries read its own index, triggers keep it current, and the
ingest handler / fulltext_index create it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from content import bm25_workspaces, fulltext, selectors, services
from content.handlers import index_ingested_workspace
from content.query import parse_query
from content.services import IngestItem
from core.models import OutboxEvent
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db

ALICE = [
    IngestItem("sock", "Sockets", "Open a socket, read bytes from the socket and close it."),
    IngestItem("tls", "TLS servers", "A server wraps each socket in TLS before it reads a request."),
    IngestItem("queue", "Work queues", "A queue of jobs; each worker reads the next job and runs it."),
    IngestItem("cache", "Caching", "Keep recent answers in memory so the server reads less from disk."),
]
QUERIES = ["socket server reads", '"reads bytes" socket', "server -TLS", "queue jobs worker", "memory disk"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    bm25_workspaces.forget()
    yield
    bm25_workspaces.forget()


def _ranked(workspace_id: int, query: str, **kwargs) -> list[tuple[int, float]]:
    return fulltext.ranked_chunks(
        workspace_id=workspace_id, parsed=parse_query(query), limit=10, ranking="bm25", **kwargs
    )


def _bob_floods(workspace_id: int) -> None:
    # many short chunks with every word of Alice's queries: they outrank Alice's in a table-wide index
    ingest(
        workspace_id,
        *[
            IngestItem(f"bob-{n}", f"Socket server {n}", "socket server reads bytes queue jobs worker memory disk")
            for n in range(150)
        ],
    )


def test_results_and_scores_do_not_depend_on_another_workspace(workspace, other_workspace):
    ingest(workspace.pk, *ALICE)
    assert bm25_workspaces.ensure(workspace.pk) == [
        f"CREATE INDEX content_bm25_chunk_w{workspace.pk}_bm25",
        f"CREATE INDEX content_bm25_title_w{workspace.pk}_bm25",
    ]
    before = {q: _ranked(workspace.pk, q) for q in QUERIES}
    shared_before = _ranked_shared(workspace.pk, QUERIES[0])
    _bob_floods(other_workspace.pk)
    after = {q: _ranked(workspace.pk, q) for q in QUERIES}
    for q in QUERIES:
        assert [i for i, _ in after[q]] == [i for i, _ in before[q]], q
        assert [s for _, s in after[q]] == pytest.approx([s for _, s in before[q]], rel=1e-6), q
    assert before[QUERIES[0]], "the queries find Alice's chunks"
    # the table-wide index mixes Bob's statistics into Alice's scores (what the own index avoids)
    shared_after = _ranked_shared(workspace.pk, QUERIES[0])
    assert [s for _, s in shared_after] != pytest.approx([s for _, s in shared_before], rel=1e-3)


def _ranked_shared(workspace_id: int, query: str) -> list[tuple[int, float]]:
    bm25_workspaces.forget()
    original = bm25_workspaces.indexes_for
    bm25_workspaces.indexes_for = lambda workspace_id: None  # the table-wide path, as without own indexes
    try:
        return _ranked(workspace_id, query)
    finally:
        bm25_workspaces.indexes_for = original


def test_same_results_as_the_table_wide_indexes_when_alone(workspace):
    # phrases, exclusions and document filters select the same chunks on both paths
    ids = ingest(workspace.pk, *ALICE)
    shared = {q: _ranked_shared(workspace.pk, q) for q in QUERIES}
    only = [ids["tls"], ids["cache"]]
    shared_filtered = _ranked_shared_filtered(workspace.pk, only)
    bm25_workspaces.ensure(workspace.pk)
    for q in QUERIES:
        own = _ranked(workspace.pk, q)
        # every match fits in the limit: the same chunks match (the scores differ: the table-wide
        # index still counts rows of rolled-back transactions until a REINDEX, the own one is fresh)
        assert {i for i, _ in own} == {i for i, _ in shared[q]}, q
    assert {i for i, _ in _ranked(workspace.pk, "server -TLS")} == {i for i, _ in shared["server -TLS"]}
    own_filtered = _ranked(workspace.pk, "server reads", document_ids=only)
    assert {i for i, _ in own_filtered} == {i for i, _ in shared_filtered} and own_filtered


def _ranked_shared_filtered(workspace_id: int, only: list[int]) -> list[tuple[int, float]]:
    original = bm25_workspaces.indexes_for
    bm25_workspaces.indexes_for = lambda workspace_id: None
    try:
        return _ranked(workspace_id, "server reads", document_ids=only)
    finally:
        bm25_workspaces.indexes_for = original


def test_the_query_reads_the_workspace_index_only(workspace, other_workspace):
    ingest(workspace.pk, *ALICE)
    _bob_floods(other_workspace.pk)
    bm25_workspaces.ensure(workspace.pk)
    with CaptureQueriesContext(connection) as ctx:
        _ranked(workspace.pk, "socket server reads")
    statement = ctx.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement.replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using content_bm25_chunk_w{workspace.pk}_bm25" in plan
    assert f"Index Scan using content_bm25_title_w{workspace.pk}_bm25" in plan
    assert "content_chunk_text_bm25" not in plan and "content_document_title_bm25" not in plan
    assert "Rows Removed by Filter" not in plan  # no other workspace's rows to skip


def test_triggers_keep_the_own_tables_current(workspace, other_workspace):
    ids = ingest(workspace.pk, *ALICE)
    bm25_workspaces.ensure(workspace.pk)
    own = bm25_workspaces.names(workspace.pk)

    def rows() -> tuple[int, int]:
        with connection.cursor() as cursor:
            counts = []
            for table in (own.chunk_table, own.title_table):
                cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)).as_string())
                counts.append(cursor.fetchone()[0])
            return counts[0], counts[1]

    assert rows() == (4, 4)
    _bob_floods(other_workspace.pk)
    assert rows() == (4, 4)  # other workspaces' writes stay out
    new = ingest(workspace.pk, IngestItem("xylo", "Xylophones", "A xylophagous larva in the oak."))
    assert [i for i, _ in _ranked(workspace.pk, "xylophagous")] and rows() == (5, 5)
    ingest(workspace.pk, IngestItem("xylo", "Marimbas", "Nothing about beetles any more."))  # changed content
    assert _ranked(workspace.pk, "xylophagous") == [] and _ranked(workspace.pk, "marimbas")
    services.document_delete(workspace_id=workspace.pk, document_id=new["xylo"])
    assert rows() == (4, 4) and _ranked(workspace.pk, "marimbas") == []
    assert ids  # Alice's first documents are untouched


def test_the_ingest_handler_creates_the_index_once(workspace):
    ingest(workspace.pk, *ALICE)
    event = OutboxEvent(event_type=services.EVENT_INGESTED, payload={"workspace_id": workspace.pk})
    assert bm25_workspaces.indexes_for(workspace.pk) is None
    index_ingested_workspace(event)
    assert bm25_workspaces.indexes_for(workspace.pk) is not None
    assert [i for i, _ in _ranked(workspace.pk, "socket")]
    with CaptureQueriesContext(connection) as ctx:
        index_ingested_workspace(event)  # it has its indexes: nothing to do
    assert not any("CREATE" in q["sql"] for q in ctx.captured_queries)


def test_the_ingest_handler_refreshes_statistics_after_a_big_ingest(workspace):
    ingest(workspace.pk, *ALICE)
    event = OutboxEvent(event_type=services.EVENT_INGESTED, payload={"workspace_id": workspace.pk})
    index_ingested_workspace(event)  # creates the tables (analyzed at 4 rows)
    own = bm25_workspaces.names(workspace.pk)

    def estimate() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [own.chunk_table])
            return cursor.fetchone()[0]

    assert estimate() == 4
    assert bm25_workspaces.refresh_statistics(workspace.pk) == []  # nothing moved
    _bob_floods(workspace.pk)  # 150 more documents through the triggers
    assert estimate() == 4
    index_ingested_workspace(event)
    assert estimate() == 154
    assert bm25_workspaces.refresh_statistics(workspace.pk) == []


def test_fulltext_index_gives_every_workspace_its_own(workspace, other_workspace, capsys):
    alice = ingest(workspace.pk, *ALICE)
    _bob_floods(other_workspace.pk)
    call_command("fulltext_index")
    out = capsys.readouterr().out
    for ws in (workspace.pk, other_workspace.pk):
        assert f"CREATE INDEX content_bm25_chunk_w{ws}_bm25" in out
    assert "2 workspace(s) with their own indexes, 0 ranked by the table-wide ones" in out
    call_command("fulltext_index", "--workspace", str(workspace.pk), "--rebuild")
    assert f"REINDEX content_bm25_chunk_w{workspace.pk}_bm25" in capsys.readouterr().out
    with override_settings(STRATA_RELEVANCE_FLOORS={"hashing-1536-v2": 0.0}):
        hits = selectors.search(workspace_id=workspace.pk, query="socket bytes", mode="fulltext")
    assert hits and {hit.document_id for hit in hits} <= set(alice.values())
