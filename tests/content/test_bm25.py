"""The BM25 indexes: workspace isolation (pg_textsearch 1.0 ignores partial-index predicates, so
every query must filter by workspace), their status, creation, repair and planner statistics, and
what strata_status says."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings

from content import bm25, selectors
from content.services import IngestItem
from core.management.commands.strata_status import fulltext_report
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db

MODES = ["semantic", "fulltext", "hybrid"]


@pytest.mark.parametrize("ranking", ["bm25", "ts_rank"])
@pytest.mark.parametrize("mode", MODES)
def test_a_rare_term_shared_by_two_workspaces_never_crosses_over(workspace, other_workspace, mode, ranking):
    # Bob's workspace holds many more chunks with the rare word than any candidate pool, and they
    # rank higher (shorter texts, the word repeated): a query that forgot the workspace filter, or
    # filtered after a LIMIT, would return only Bob's.
    bob = ingest(
        other_workspace.pk,
        *[IngestItem(f"bob-{n}", f"Xylophagous note {n}", "xylophagous xylophagous beetles") for n in range(120)],
    )
    alice = ingest(
        workspace.pk,
        IngestItem(
            "alice", "Field notes", "Among many other observations, one xylophagous larva was found in the old oak."
        ),
    )
    with override_settings(STRATA_FULLTEXT_RANKING=ranking, STRATA_RELEVANCE_FLOORS={"hashing-1536-v2": 0.0}):
        hits = selectors.search(workspace_id=workspace.pk, query="xylophagous beetles", mode=mode, limit=100)
    assert {hit.document_id for hit in hits} == {alice["alice"]}
    assert not {hit.document_id for hit in hits} & set(bob.values())


def test_status_on_a_server_that_preloads_pg_textsearch():
    state = bm25.status()
    assert state["library"] and state["extension"], "the test server must preload pg_textsearch"
    assert state["indexes"] == sorted(bm25.INDEXES) and state["stale"] == [] and state["ready"]
    assert not state["writes_blocked"]
    assert bm25.ensure_indexes() == []  # nothing to create or repair
    bm25.check_writable()  # no error


def test_fulltext_index_creates_missing_indexes(capsys):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {bm25.TITLE_INDEX}")
    assert not bm25.status()["ready"]
    call_command("fulltext_index")
    assert f"CREATE INDEX {bm25.TITLE_INDEX}" in capsys.readouterr().out
    assert bm25.status()["ready"]


def test_fulltext_index_rebuild_reindexes_both_and_bm25_still_ranks(workspace, capsys):
    ids = ingest(workspace.pk, IngestItem("a", "Sockets", "Open a socket and read bytes from it."))
    call_command("fulltext_index", "--rebuild")
    out = capsys.readouterr().out
    assert f"REINDEX {bm25.TEXT_INDEX}" in out and f"REINDEX {bm25.TITLE_INDEX}" in out
    with override_settings(STRATA_FULLTEXT_RANKING="bm25"):
        hits = selectors.search(workspace_id=workspace.pk, query="socket bytes", mode="fulltext")
    assert [hit.document_id for hit in hits] == [ids["a"]]


def test_fulltext_index_rebuild_refreshes_planner_statistics(workspace, capsys):
    from django.db import connection

    ingest(workspace.pk, *[IngestItem(f"d{n}", f"Note {n}", f"socket number {n} reads bytes") for n in range(5)])
    call_command("fulltext_index", "--rebuild")
    assert "ANALYZE content_chunk, content_document" in capsys.readouterr().out
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'content_chunk'")
        assert cursor.fetchone()[0] >= 5  # the planner now knows the chunks that were loaded


def test_pg_textsearch_1_0_partial_indexes_would_leak_other_workspaces():
    """Why there is no per-workspace partial BM25 index (README "Search modes"): on pg_textsearch 1.0
    the build ignores the predicate and the planner drops the query's (implied) filter, so the
    partial index of workspace 1 returns workspace 2's rows. If this fails after an upgrade, partial
    indexes work: per-workspace indexes (own statistics, no other workspace's rows to skip) become
    possible."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (id int PRIMARY KEY, ws int NOT NULL, body text NOT NULL)")
        cursor.execute("INSERT INTO probe SELECT g, 2, 'zebra zebra apple' FROM generate_series(1, 50) g")
        cursor.execute("INSERT INTO probe VALUES (100, 1, 'one zebra among other words')")
        cursor.execute("CREATE INDEX probe_ws1 ON probe USING bm25 (body) WITH (text_config = 'english') WHERE ws = 1")
        cursor.execute("SELECT bm25_summarize_index('probe_ws1')")
        summary = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_seqscan = off")  # what the planner picks on a large table
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(
            "SELECT ws FROM probe WHERE ws = 1 ORDER BY body <@> to_bm25query('zebra', 'probe_ws1') LIMIT 10"
        )
        leaked = [ws for (ws,) in cursor.fetchall() if ws != 1]
        cursor.execute("DROP TABLE probe")
    upgraded = "pg_textsearch now honours partial-index predicates: see README 'Search modes'"
    assert "total_docs: 51" in summary, upgraded  # the build indexed workspace 2's 50 rows too
    assert leaked, upgraded


def test_strata_status_explains_each_fallback():
    assert fulltext_report("1.0.0", "1.0.0", 2)["ranking"] == "bm25"
    stale = fulltext_report("1.0.0", "1.0.0", 2, stale=["content_chunk_text_bm25"])
    assert stale["ranking"] == "ts_rank" and "lost their statistics in a restart" in stale["detail"]
    assert "./strata manage fulltext_index" in stale["detail"]
    blocked = fulltext_report(None, "1.0.0", 2)
    assert "writing chunks fails" in blocked["detail"] and "shared_preload_libraries" in blocked["detail"]
    missing = fulltext_report("1.0.0", None, 0)
    assert "missing" in missing["detail"] and "fulltext_index" in missing["detail"]
    assert "not preloaded" in fulltext_report(None, None, 0)["detail"]


def test_the_embedded_server_preloads_pg_textsearch():
    from django.db import connection

    from core.embedded import postgres

    assert postgres._tuning()["shared_preload_libraries"] == "pg_textsearch"  # the wheel ships it
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('shared_preload_libraries')")
        assert "pg_textsearch" in cursor.fetchone()[0]


def test_the_test_database_runs_no_autovacuum_on_bm25_indexed_tables():
    """tests/conftest.py: pg_textsearch 1.0.0 can deadlock such an autovacuum against a test
    transaction (the suite then hangs); this pins that the guard is in place."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname IN ('content_chunk', 'content_document') "
            "AND 'autovacuum_enabled=false' = ANY(reloptions) ORDER BY relname"
        )
        assert [row[0] for row in cursor.fetchall()] == ["content_chunk", "content_document"]
