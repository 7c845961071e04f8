"""The content app's projections: what its stores hold, written from its rows (core/projections.py).

* ``content.project_bodies`` (DocumentStore): a document's JSON body ``{"workspace_id",
  "title", "text", "metadata"}`` under its id, from its ``Document`` and ``DocumentSource``
  rows; the body of a document that no longer exists is deleted.
* ``content.project_graph_nodes`` (GraphStore): its ``Document`` node (``workspace_id``,
  ``title``, ``external_id``); the node of a deleted document is deleted with its edges.
* ``content.project_vector_deletes`` (VectorStore): the vectors of chunks an ingest replaced or
  a deletion removed (their ids travel in the event: the rows are gone), from every collection
  of the workspace.
* ``content.project_collection_drops`` (VectorStore): the collections a re-embed left behind.

Each reads the rows the event names as they are NOW, so a late, repeated or out-of-order
delivery writes the current state. Writing to a store that does not share the transaction, a
concurrent ingest may commit a newer version between the read and the write; the projection
then reads the rows' content hashes again and writes once more what changed (a newer event's
delivery will also write it), so the store ends with the current rows. Vectors themselves are
written by the embedding slices (content/embedding.py), not here: they cost a model call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from content import stores
from content.deletion import EVENT_DELETED
from content.ingest import EVENT_INGESTED
from content.models import Document, DocumentSource, WorkspaceEmbedding
from content.reembed import EVENT_REEMBEDDED
from core.models import OutboxEvent
from core.projections import projection
from core.storage.ports import DocumentStore, GraphStore, Node, NodeRef, VectorStore

BATCH = 500
MAX_REWRITES = 3


def _document_ids(event: OutboxEvent) -> list[int]:
    payload = event.payload
    ids = payload.get("document_ids")
    if ids is None:
        ids = [payload["document_id"]] if payload.get("document_id") is not None else []
    return sorted({int(i) for i in ids})


def _batches(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def _hashes(ids: list[int]) -> dict[int, str]:
    return dict(Document.objects.filter(id__in=ids).values_list("id", "content_hash"))


def _project(ids: list[int], write: Any, *, verify: bool) -> None:
    """``write(ids) -> {id: content_hash or None}`` what it wrote; with ``verify`` (a store that
    does not share the transaction), write again the documents whose rows changed meanwhile."""
    for batch in _batches(ids):
        written = write(batch)
        for _ in range(MAX_REWRITES if verify else 0):
            now = _hashes(batch)
            changed = [doc_id for doc_id in batch if now.get(doc_id) != written.get(doc_id)]
            if not changed:
                break
            written = {**written, **write(changed)}


# ---------------------------------------------------------------- JSON bodies


def body_rows(ids: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
    """``{id: (content_hash, body)}`` of the documents that exist, from their rows."""
    rows = Document.objects.filter(id__in=ids).values_list("id", "workspace_id", "title", "content_hash")
    sources = dict(
        (doc_id, (text, metadata))
        for doc_id, text, metadata in DocumentSource.objects.filter(document_id__in=ids).values_list(
            "document_id", "text", "metadata"
        )
    )
    found = {}
    for doc_id, workspace_id, title, content_hash in rows:
        text, metadata = sources.get(doc_id, ("", {}))
        found[doc_id] = (
            content_hash,
            {"workspace_id": workspace_id, "title": title, "text": text, "metadata": metadata or {}},
        )
    return found


def _write_bodies(store: DocumentStore, ids: list[int]) -> dict[int, str | None]:
    rows = body_rows(ids)
    if rows:
        store.put_many(stores.DOCUMENTS_COLLECTION, [(str(doc_id), body) for doc_id, (_, body) in rows.items()])
    gone = [str(doc_id) for doc_id in ids if doc_id not in rows]
    if gone:
        store.delete_many(stores.DOCUMENTS_COLLECTION, gone)
    return {doc_id: rows[doc_id][0] if doc_id in rows else None for doc_id in ids}


@projection(EVENT_INGESTED, name="content.project_bodies", app=stores.APP, kind="documents")
@projection(EVENT_DELETED, name="content.project_bodies", app=stores.APP, kind="documents")
def project_bodies(event: OutboxEvent, store: DocumentStore) -> None:
    store.create_collection(stores.DOCUMENTS_COLLECTION)
    _project(
        _document_ids(event),
        lambda ids: _write_bodies(store, ids),
        verify=not store.features.joins_db_transaction,
    )


# ---------------------------------------------------------------- graph nodes


def node_rows(ids: list[int]) -> dict[int, tuple[str, Node]]:
    rows = Document.objects.filter(id__in=ids).values_list("id", "workspace_id", "title", "external_id", "content_hash")
    return {
        doc_id: (
            content_hash,
            Node(stores.GRAPH_LABEL, str(doc_id), {"workspace_id": workspace_id, "title": title, "external_id": ext}),
        )
        for doc_id, workspace_id, title, ext, content_hash in rows
    }


def _write_nodes(store: GraphStore, ids: list[int]) -> dict[int, str | None]:
    rows = node_rows(ids)
    if rows:
        store.bulk_load(nodes=[node for _, node in rows.values()])
    for doc_id in ids:
        if doc_id not in rows:
            store.delete_node(NodeRef(stores.GRAPH_LABEL, str(doc_id)))
    return {doc_id: rows[doc_id][0] if doc_id in rows else None for doc_id in ids}


@projection(EVENT_INGESTED, name="content.project_graph_nodes", app=stores.APP, kind="graph")
@projection(EVENT_DELETED, name="content.project_graph_nodes", app=stores.APP, kind="graph")
def project_graph_nodes(event: OutboxEvent, store: GraphStore) -> None:
    store.define_node_label(stores.GRAPH_LABEL)
    _project(
        _document_ids(event),
        lambda ids: _write_nodes(store, ids),
        verify=not store.features.joins_db_transaction,
    )


# ---------------------------------------------------------------- vectors


def workspace_collections(store: VectorStore, workspace_id: int) -> list[str]:
    """The workspace's chunk collections in one vector backend."""
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    return sorted(c.name for c in store.list_collections() if c.name.startswith(prefix))


@projection(EVENT_INGESTED, name="content.project_vector_deletes", app=stores.APP, kind="vectors")
@projection(EVENT_DELETED, name="content.project_vector_deletes", app=stores.APP, kind="vectors")
def project_vector_deletes(event: OutboxEvent, store: VectorStore) -> None:
    """Chunk ids are never reused, so deleting them is always right, whenever it happens."""
    keys = [str(i) for i in event.payload.get("removed_chunk_ids") or event.payload.get("chunk_ids") or []]
    if not keys:
        return
    for name in workspace_collections(store, int(event.payload["workspace_id"])):
        for start in range(0, len(keys), 5000):
            store.delete(name, keys[start : start + 5000])


@projection(EVENT_REEMBEDDED, name="content.project_collection_drops", app=stores.APP, kind="vectors")
def project_collection_drops(event: OutboxEvent, store: VectorStore) -> None:
    """Drop the collections a re-embed replaced, unless the workspace uses that model again."""
    workspace_id = int(event.payload["workspace_id"])
    model = WorkspaceEmbedding.objects.filter(workspace_id=workspace_id).values_list("model", flat=True).first()
    keep = stores.chunk_collection(workspace_id=workspace_id, model=model) if model else None
    for name in event.payload.get("dropped") or []:
        if name != keep:
            store.drop_collection(name)
