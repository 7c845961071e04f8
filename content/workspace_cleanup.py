"""A deleted workspace's content projections leave every store (``core.services.workspace_delete``).

The rows are gone by the time a dedicated store's delivery runs, so each projection finds what
to remove by the workspace id alone, and running it again removes nothing more:

* ``content.workspace_bodies`` (DocumentStore): the document bodies whose ``workspace_id`` is it;
* ``content.workspace_graph_nodes`` (GraphStore): its ``Document`` nodes and their edges;
* ``content.workspace_vectors`` (VectorStore): its chunk collections, every model's;
* ``content.workspace_fulltext`` (after the commit): its own BM25 tables, if it had them.
"""

from __future__ import annotations

from content import bm25_workspaces, stores
from content.projections import workspace_collections
from core import outbox
from core.models import OutboxEvent
from core.projections import projection
from core.services import EVENT_WORKSPACE_DELETED
from core.storage.filters import Eq
from core.storage.ports import DocumentStore, GraphStore, UnknownCollection, UnknownLabel, VectorStore

PAGE = 5000


def _workspace(event: OutboxEvent) -> int:
    return int(event.payload["workspace_id"])


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_bodies", app=stores.APP, kind="documents")
def drop_bodies(event: OutboxEvent, store: DocumentStore) -> None:
    where = Eq("workspace_id", _workspace(event))
    try:
        while ids := store.find_ids(stores.DOCUMENTS_COLLECTION, where=where, limit=PAGE):
            store.delete_many(stores.DOCUMENTS_COLLECTION, ids)
    except UnknownCollection:
        return  # the store never held a body


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_graph_nodes", app=stores.APP, kind="graph")
def drop_graph_nodes(event: OutboxEvent, store: GraphStore) -> None:
    try:
        store.delete_nodes(stores.GRAPH_LABEL, where=Eq("workspace_id", _workspace(event)))
    except UnknownLabel:
        return  # the store never held a document node


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    for name in workspace_collections(store, _workspace(event)):
        store.drop_collection(name)


@outbox.register(EVENT_WORKSPACE_DELETED, name="content.workspace_fulltext", transactional=False)
def drop_fulltext(event: OutboxEvent) -> None:
    """After the commit, outside the deleting transaction: ``DROP TABLE`` takes an exclusive lock."""
    bm25_workspaces.drop(_workspace(event))
