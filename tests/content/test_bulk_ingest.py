"""content.bulk_ingest.document_ingest_batches: batches written by several threads into one
staged bulk load. Readers see no vector of the load (and no document ready) until it finishes,
then all of them; the answers, outcomes and rows are those of one batch after another."""

from __future__ import annotations

import io
import json
import threading
from contextlib import closing

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from content import ingest as ingest_module
from content import services, stores
from content.models import Chunk, Document, DocumentSource
from tests.content.test_vector_bulk import answers, collection_of, hidden_collections, items

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threads_used(monkeypatch) -> list[str]:
    """The names of the threads that ran each ``document_ingest`` call."""
    seen: list[str] = []
    original = ingest_module.document_ingest

    def recording(**kwargs):
        seen.append(threading.current_thread().name)
        return original(**kwargs)

    monkeypatch.setattr(ingest_module, "document_ingest", recording)
    return seen


def batches(rows: list[services.IngestItem], size: int) -> list[list[services.IngestItem]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def ingest(workspace_id: int, rows: list[list[services.IngestItem]], *, workers: int, finish: bool = True):
    """The outcomes of a bulk ingest through one staged load (finished unless ``finish`` is False:
    then the open load is returned too)."""
    load = services.embedding_bulk_load(workspace_id=workspace_id, rows=sum(len(b) for b in rows))
    assert load is not None and load.staged
    with closing(
        services.document_ingest_batches(
            workspace_id=workspace_id, batches=rows, embed=True, bulk=load, workers=workers
        )
    ) as outcomes:
        reports = [outcome.get() for outcome in outcomes]
    if finish:
        load.finish()
        return reports
    return reports, load


def test_parallel_batches_answer_like_one_after_another_and_show_nothing_before_the_load_ends(
    workspace, other_workspace, settings, threads_used
):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    settings.STRATA_INGEST_WORKERS = 2
    services.document_ingest(workspace_id=workspace.pk, items=items(12)[:4], embed=True)  # 4 live vectors
    collection = collection_of(workspace.pk)
    before = stores.vectors().count(collection)

    reports, load = ingest(workspace.pk, batches(items(40)[4:], 6), workers=2, finish=False)
    assert sum(r.counts["added"] for r in reports) == 36
    assert len(set(threads_used)) == 2 and threading.current_thread().name not in threads_used
    # every row is written, but searches still use the old collection and its index
    assert Document.objects.filter(workspace=workspace).count() == 40
    assert stores.vectors().count(collection) == before
    assert Document.objects.filter(workspace=workspace, status=Document.Status.PENDING).count() == 36
    assert load.finish() == Chunk.objects.filter(workspace=workspace).count() - before

    assert stores.vectors().count(collection) == Chunk.objects.filter(workspace=workspace).count()
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()
    assert not Chunk.objects.filter(workspace=workspace, embedding_model="").exists()
    assert hidden_collections() == []

    # the same documents one batch after another, in another workspace: the same answers
    services.document_ingest(workspace_id=other_workspace.pk, items=items(12)[:4], embed=True)
    ingest(other_workspace.pk, batches(items(40)[4:], 6), workers=1)
    query = np.asarray(
        stores.vectors().get(collection, str(Chunk.objects.filter(workspace=workspace).last().id)).vector
    )
    assert answers(workspace.pk, query) == answers(other_workspace.pk, query)


def test_the_same_external_id_in_two_batches_is_written_in_input_order(workspace, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 4
    first, second = items(6, "v1"), items(6, "v2")
    rows = [first[:3], [second[0], first[3]], [first[4], first[5], second[1]]]  # d0 and d1 again, changed
    reports = ingest(workspace.pk, rows, workers=2)
    assert [[r.outcome for r in report.results] for report in reports] == [
        ["added"] * 3,
        ["updated", "added"],
        ["added", "added", "updated"],
    ]
    texts = dict(
        DocumentSource.objects.filter(document__workspace=workspace).values_list("document__external_id", "text")
    )
    assert texts["d0"].endswith("v2: about postgres vacuum.") and texts["d1"].endswith("v2: about vector index.")
    assert texts["d2"].endswith("v1: about graph traversal.")
    # the replaced chunks' vectors are gone from the staged copy too (the writer threads joined the load)
    stored = {item.key for item in stores.vectors().scan(collection_of(workspace.pk), limit=100).items}
    assert stored == {str(i) for i in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}


def test_a_bad_item_fails_alone_in_a_parallel_batch(workspace, settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 4
    rows = items(8)
    rows[5] = services.IngestItem(external_id="  ", title="no id", text="text")
    reports = ingest(workspace.pk, batches(rows, 3), workers=2)
    assert [len(r.failed) for r in reports] == [0, 1, 0]
    assert "external_id is empty" in reports[1].failed[0].error
    assert Document.objects.filter(workspace=workspace, status=Document.Status.READY).count() == 7


def test_without_a_bulk_load_embedding_batches_run_one_after_another(workspace, settings, threads_used):
    """A batch's own staged load builds its index CONCURRENTLY, which waits for every open
    transaction: such batches never run beside each other."""
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 3
    outcomes = services.document_ingest_batches(
        workspace_id=workspace.pk, batches=batches(items(12), 4), embed=True, workers=2
    )
    assert [o.get().counts["added"] for o in outcomes] == [4, 4, 4]
    assert set(threads_used) == {threading.current_thread().name}
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()


def test_the_ingest_command_writes_batches_on_two_threads_and_reports_in_file_order(workspace, settings, tmp_path):
    settings.STRATA_INGEST_WORKERS = 2
    lines = []
    for i in range(20):
        if i in (3, 11, 17):
            lines.append(json.dumps({"external_id": f"bad{i}", "title": "no text"}))
        else:
            lines.append(json.dumps({"external_id": f"d{i}", "title": f"doc {i}", "text": f"note {i} about postgres."}))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="3 item"):
        call_command("ingest", str(path), "--workspace", str(workspace.pk), "--batch-size", "4", stdout=out, stderr=err)
    assert "added 17, updated 0, unchanged 0, failed 3" in out.getvalue()
    reported = [int(line.split(":")[1]) for line in err.getvalue().splitlines() if line.startswith(str(path))]
    assert reported == [4, 12, 18]  # file:line, in the file's order
    assert Document.objects.filter(workspace=workspace).count() == 17
