"""Helpers of the knowledge tests: ingest documents, deliver the outbox, read the graph."""

from __future__ import annotations

from typing import Any

from content.services import IngestItem, document_ingest
from core import outbox
from core.models import OutboxEvent
from knowledge import stores


def ingest(workspace_id: int, *items: IngestItem) -> dict[str, int]:
    report = document_ingest(workspace_id=workspace_id, items=list(items), embed=False)
    assert not report.failed, report.failed
    return {r.external_id: r.document_id for r in report.results}


def doc(external_id: str, text: str, title: str = "", **metadata: Any) -> IngestItem:
    return IngestItem(external_id=external_id, title=title or external_id, text=text, metadata=metadata)


def drain() -> None:
    """Deliver every due outbox event (the relay the worker runs), until none is left."""
    for _ in range(50):
        if not outbox.relay().processed:
            break
    dead = list(OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).values_list("event_type", "last_error"))
    pending = list(
        OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).values_list("event_type", "last_error")
    )
    assert not dead and not pending, (dead, pending)


def graph_edges(workspace_id: int) -> set[tuple[str, str, str]]:
    """(type, source local key, target local key) of the workspace's edges in the graph."""
    store = stores.graph()
    found = set()
    for edge_type in store.edge_types():
        after = None
        while True:
            page = store.scan_edges(edge_type, after=after, limit=1000)
            for edge in page.items:
                source = stores.local_key(workspace_id, edge.source.key)
                target = stores.local_key(workspace_id, edge.target.key)
                if source is not None and target is not None:
                    found.add((edge.type, source, target))
            if page.next_cursor is None:
                break
            after = page.next_cursor
    return found


def graph_nodes(workspace_id: int, label: str = stores.ENTITY_LABEL) -> dict[str, dict[str, Any]]:
    store = stores.graph()
    if label not in store.node_labels():
        return {}
    found, after = {}, None
    while True:
        page = store.scan_nodes(label, after=after, limit=1000)
        for node in page.items:
            key = stores.local_key(workspace_id, node.key)
            if key is not None:
                found[key] = node.properties
        if page.next_cursor is None:
            return found
        after = page.next_cursor
