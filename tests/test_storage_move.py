"""storage_move (issue 8, section 4): the content app's vectors move to Qdrant and its graph to
FalkorDB while documents keep being ingested, updated and deleted (a thread of this process:
Qdrant's local mode serves one process), with the outbox relayed by another thread; then
nothing is missing or duplicated and the search and document pages answer as before. Also:
--dry-run, --verify-only, --rollback during and after a move, every step in the audit log."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from content import stores
from content.models import Document
from core.models import AuditEntry, StorageMove, StorageRoute
from core.storage import namespaces, routing, storages
from core.storage.ports import Edge, NodeRef
from tests.content.helpers import ingest
from tests.moving import Background, answers, content_storage, corpus, drain, drop_dedicated, stored

pytestmark = pytest.mark.django_db(transaction=True)
EDGE = "CITES_FOR_MOVE_TEST"


@pytest.fixture
def routed(settings, tmp_path):
    settings.STRATA_STORAGE = {**settings.STRATA_STORAGE, "content": content_storage(tmp_path)}
    settings.STRATA_STORAGE_ROUTE_TTL = 0.2
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 0.2
    storages.reset()
    yield
    drop_dedicated()


@pytest.fixture
def workspace(workspace, routed):
    """The workspace; AGE's label tables outlive the test database's flush: its nodes are
    removed afterwards."""
    yield workspace
    storages.backend("content", "graph", "age").cypher(
        "MATCH (d:Document) WHERE d.workspace_id = $ws DETACH DELETE d RETURN count(*)",
        {"ws": workspace.pk},
        columns=("n",),
    )


def move(*args: str) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("storage_move", *args, "--grace", "0", stdout=out, stderr=err)
    finally:
        print(out.getvalue(), err.getvalue()[-5000:])
    return out.getvalue()


def seed_edges(doc_ids: list[int]) -> set[tuple[str, str]]:
    """Edges between documents, written through the port (content writes none itself; an app
    that does, like the knowledge app, declares its edge types the same way)."""
    namespaces.declare("content", edge_types=(EDGE,))
    graph = stores.graph()
    graph.define_edge_type(EDGE)
    pairs = {(str(a), str(b)) for a, b in zip(doc_ids, doc_ids[5:] + doc_ids[:5], strict=True)}
    graph.bulk_load(edges=[Edge(EDGE, NodeRef("Document", a), NodeRef("Document", b), {"w": 1}) for a, b in pairs])
    return pairs


def edges_in(graph) -> list[tuple[str, str]]:
    found, after = [], None
    while True:
        page = graph.scan_edges(EDGE, after=after, limit=1000)
        found.extend((e.source.key, e.target.key) for e in page.items)
        after = page.next_cursor
        if after is None:
            return found


def test_vectors_to_qdrant_and_graph_to_falkordb_while_ingesting(workspace, client, user):
    ids = ingest(workspace.pk, *corpus(40))
    doc_ids = sorted(ids.values())
    pairs = seed_edges(doc_ids)
    keep = set(doc_ids)
    pages = doc_ids[:6]
    before = answers(workspace.pk, pages, keep)
    assert all(before[f"semantic:{t}"] for t in ("birds", "stars")) and any(
        before[f"page:{d}"]["related"] for d in pages
    )

    with Background(workspace.pk) as background:
        out = move("content", "vectors", "--to", "qdrant", "--batch", "20")
        assert "4. reads switched to qdrant" in out and "5. postgres no longer receives writes" in out
        out = move("content", "graph", "--to", "falkordb", "--batch", "20")
        assert "3. verify age vs falkordb: OK" in out
        while background.batches < 12:  # keep ingesting after both moves too
            pass
    drain()
    assert background.batches >= 12 and background.deleted

    assert routing.route("content", "vectors") == routing.Route("qdrant", ("qdrant",), 3)
    assert routing.route("content", "graph").read == "falkordb"
    assert stores.vectors().features.vendor == "qdrant" and stores.graph().features.vendor == "falkordb"
    counts = stored(workspace.pk)  # every document, vector and node once, nothing else
    assert counts["vectors"] == counts["nodes"] == counts["documents"]  # (one chunk each)
    assert counts["documents"] == Document.objects.filter(workspace_id=workspace.pk).count() > 40
    falkor_edges = edges_in(stores.graph())
    assert sorted(falkor_edges) == sorted(pairs)  # every edge once (no churn document had any)

    cache.clear()  # the pages are cached by content version: read them fresh from the new stores
    assert answers(workspace.pk, pages, keep) == before
    client.force_login(user)
    for doc_id in pages:
        assert client.get(reverse("content:document-detail", args=[doc_id])).status_code == 200
    assert client.get(reverse("content:search"), {"q": "heron egret"}).status_code == 200

    steps = list(
        AuditEntry.objects.filter(action__startswith="storage.move.").order_by("id").values_list("action", flat=True)
    )
    assert steps == [f"storage.move.{s}" for s in ("dual_writes", "backfill", "verify", "reads_switched", "done")] * 2
    assert list(StorageMove.objects.values_list("status", flat=True)) == ["done", "done"]


def test_dry_run_and_verify_only_change_nothing(workspace):
    ingest(workspace.pk, *corpus(8))
    out = move("content", "vectors", "--to", "qdrant", "--dry-run")
    assert "moving postgres -> qdrant" in out and "dry run: nothing was changed" in out
    assert f"content.ws{workspace.pk}.hashing-1536-v2: " in out
    assert not StorageRoute.objects.exists() and not StorageMove.objects.exists()
    with pytest.raises(Exception, match="differ"):
        move("content", "vectors", "--to", "qdrant", "--verify-only")  # nothing copied yet
    assert not StorageRoute.objects.exists()


def test_rollback_during_a_move_and_after_it(workspace):
    from core.storage import moves

    ingest(workspace.pk, *corpus(12))
    started = moves.start("content", "vectors", "qdrant")
    moves.backfill(started)
    assert routing.route("content", "vectors").writes == ("postgres", "qdrant")
    out = move("content", "vectors", "--rollback")
    assert "rolled back: content vectors reads and writes postgres again" in out
    assert routing.route("content", "vectors") == routing.Route("postgres", ("postgres",), 2)
    late = ingest(workspace.pk, *corpus(14)[12:])  # after the rollback: Qdrant gets nothing
    qdrant = storages.backend("content", "vectors", "qdrant")
    collection = stores.chunk_collection(workspace_id=workspace.pk, model="hashing-1536-v2")
    assert qdrant.count(collection, filter={"document_id": late["doc-12"]}) == 0
    assert stored(workspace.pk)["documents"] == 14

    move("content", "vectors", "--to", "qdrant")  # the next move reconciles what the first left
    ingest(workspace.pk, *corpus(16)[14:])  # written to Qdrant only
    out = move("content", "vectors", "--rollback")
    assert "moving it back to postgres" in out and "5. qdrant no longer receives writes" in out
    assert routing.route("content", "vectors").writes == ("postgres",)
    assert stored(workspace.pk) == {"documents": 16, "vectors": 16, "nodes": 16}  # one chunk each
    assert list(StorageMove.objects.order_by("id").values_list("status", flat=True)) == [
        "rolled_back",
        "done",
        "done",
    ]
    assert AuditEntry.objects.filter(action="storage.move.rolled_back").count() == 1


class Interrupted(Exception):
    pass


def test_an_interrupted_backfill_resumes_from_its_checkpoint(workspace):
    from core.storage import moves

    ingest(workspace.pk, *corpus(30))
    started = moves.start("content", "vectors", "qdrant")

    def stop_after_first_page(copied: int) -> None:
        raise Interrupted  # the process dies after the first page's checkpoint was saved

    with pytest.raises(Interrupted):
        moves.backfill(started, page_size=10, progress=stop_after_first_page)
    started.refresh_from_db()
    assert started.copied == 10 and started.step == StorageMove.Step.BACKFILL
    [unit] = started.checkpoint["units"].values()
    assert unit["after"] is not None and not unit["done"]

    out = move("content", "vectors", "--to", "qdrant", "--batch", "10")
    assert "3. verify postgres vs qdrant: OK" in out and "4. reads switched to qdrant" in out
    started.refresh_from_db()
    assert started.copied == 30  # the first page was not copied again
    assert started.status == StorageMove.Status.DONE
    assert stored(workspace.pk) == {"documents": 30, "vectors": 30, "nodes": 30}


def test_a_store_down_during_the_move_pauses_it_and_nothing_is_lost(workspace, settings, tmp_path):
    import threading

    from core.embedded.falkordb import ensure_falkordb
    from tests.moving import CuttableProxy, content_storage

    proxy = CuttableProxy(ensure_falkordb())
    falkordb = {
        "BACKEND": "core.storage.falkordb.FalkorGraphStore",
        "graph": "mv_down_test",
        "url": proxy.url,
        "timeout": 2.0,
    }
    settings.STRATA_STORAGE = {**settings.STRATA_STORAGE, "content": content_storage(tmp_path, falkordb=falkordb)}
    storages.reset()
    try:
        ingest(workspace.pk, *corpus(20))
        from core.storage import moves

        moves.start("content", "graph", "falkordb")  # dual writes
        proxy.cut()  # FalkorDB goes down
        late = ingest(workspace.pk, *corpus(26)[20:])  # the rows commit; AGE has them at once
        assert outbox_relay_retries() >= 1  # the FalkorDB projection waits in the outbox

        with pytest.raises(SystemExit) as paused:
            call_command("storage_move", "content", "graph", "--to", "falkordb", "--max-wait", "0", "--grace", "0")
        assert paused.value.code == 3
        active = StorageMove.objects.get()
        assert active.status == StorageMove.Status.PAUSED and active.last_error
        assert AuditEntry.objects.filter(action="storage.move.paused").exists()
        assert routing.route("content", "graph").read == "age"  # reads never left AGE

        # FalkorDB comes back while the command waits for it: the move resumes and finishes
        threading.Timer(1.5, proxy.restore).start()
        out = move("content", "graph", "--to", "falkordb", "--max-wait", "60")
        assert "3. verify age vs falkordb: OK" in out and "5. age no longer receives writes" in out
        drain()
        assert routing.route("content", "graph").read == "falkordb"
        assert stored(workspace.pk) == {"documents": 26, "vectors": 26, "nodes": 26}
        graph = stores.graph()
        assert all(graph.get_node(NodeRef("Document", str(doc_id))) for doc_id in late.values())
    finally:
        try:
            storages.backend("content", "graph", "falkordb").drop_graph()
        except Exception:  # noqa: BLE001
            pass
        proxy.cut()


def outbox_relay_retries() -> int:
    from core import outbox

    return outbox.relay().retried
