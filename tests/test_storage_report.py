"""storage_report (issue 8 section 5): per app and kind of store, figures from PostgreSQL's
statistics and the port timings every process records, a verdict from the thresholds in the
settings; AGE label tables' dead rows (issue 13); the staff page."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from content import selectors
from core.storage import report as advisor
from core.storage import timings
from tests.content.helpers import ingest
from tests.moving import corpus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_timings():
    timings.clear()
    yield
    timings.clear()


def by_kind(reports: list[advisor.DomainReport]) -> dict[str, advisor.DomainReport]:
    return {r.kind: r for r in reports if r.app == "content"}


def test_port_calls_are_timed_and_flushed(workspace):
    ingest(workspace.pk, *corpus(12))
    for word in ("heron", "egret", "plover", "sandpiper", "wader"):  # (a repeated query is cached)
        selectors.search(workspace_id=workspace.pk, query=word, mode="semantic", limit=5)
    timings.flush()
    found = timings.read(1)
    searches = {key: h for key, h in found.items() if key[:2] == ("content", "vectors") and "search" in key[3]}
    assert searches and sum(h.calls for h in searches.values()) >= 5
    assert all(h.percentile(0.5) is not None and h.percentile(0.5) <= h.percentile(0.95) for h in searches.values())
    assert any(key[:2] == ("content", "graph") and h.calls for key, h in found.items())


def test_report_figures_and_verdicts_follow_the_thresholds(workspace, settings):
    ingest(workspace.pk, *corpus(20))
    for word in ("nebula", "quasar", "pulsar"):
        selectors.search(workspace_id=workspace.pk, query=word, mode="semantic", limit=5)
    timings.flush()
    reports = by_kind(advisor.storage_report(hours=1))
    assert set(reports) == {"documents", "vectors", "graph", "cache"}
    vectors = reports["vectors"]
    assert vectors.vendor == "postgresql" and sum(vectors.rows.values()) == 20
    assert vectors.index_bytes is not None and vectors.shared_buffers_bytes and vectors.ram_bytes
    assert vectors.verdict == "stay"
    assert sum(reports["graph"].rows.values()) >= 20 and reports["documents"].size_bytes > 0

    # a p95 threshold below what was measured says "move", and why
    settings.STRATA_ADVISOR_MIN_CALLS = 1
    settings.STRATA_ADVISOR_VECTOR_P95_MS = 0.0001
    moved = by_kind(advisor.storage_report(hours=1))["vectors"]
    assert moved.verdict == "move" and any("p95" in reason and "> 0.0001 ms" in reason for reason in moved.reasons)
    settings.STRATA_ADVISOR_HNSW_RAM_FRACTION = 0.0  # any index is "too large for RAM"
    settings.STRATA_ADVISOR_VECTOR_P95_MS = 1e9
    moved = by_kind(advisor.storage_report(hours=1))["vectors"]
    assert moved.verdict == "move" and any("of RAM" in reason for reason in moved.reasons)


def test_age_label_tables_dead_rows_are_reported(workspace, settings):
    from content import services

    ids = ingest(workspace.pk, *corpus(10))
    for doc_id in list(ids.values())[:6]:
        services.document_delete(workspace_id=workspace.pk, document_id=doc_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    rows = {row["table"]: row for row in advisor.age_dead_rows(settings.STRATA_GRAPH_NAME)}
    assert rows["Document"]["dead"] >= 6 and rows["Document"]["live"] >= 4

    out = StringIO()
    call_command("storage_report", "--hours", "1", stdout=out)
    text = out.getvalue()
    assert "AGE label tables (pg_stat_user_tables): dead / live rows" in text
    assert "    Document: " in text
    assert "content vectors: postgresql" in text and " -> STAY" in text


def test_the_superuser_page(client, user, django_user_model, other_workspace):
    # not scoped to a workspace (its AGE table list names every workspace's edge labels): superusers only
    from tests.knowledge.graphs import build

    extra = [{"kind": "edge", "source": "app", "target": "db", "label": "ZEPPELIN_PLANS"}]
    assert not build(other_workspace.id, extra=extra).errors
    client.force_login(user)
    url = reverse("storage-report")
    assert client.get(url).status_code == 302  # not staff: to the admin's login
    staff = django_user_model.objects.create_user("staffer", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    assert "Storage</a>" not in client.get(reverse("home")).content.decode()
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    response = client.get(url)
    assert response.status_code == 200
    assert "ZEPPELIN_PLANS" in response.content.decode()  # what a staff member of another workspace saw
    assert "Storage</a>" in client.get(reverse("home")).content.decode()
    page = response.content.decode()
    assert "content" in page and "vectors" in page and ("stay" in page.lower() or "move" in page.lower())
