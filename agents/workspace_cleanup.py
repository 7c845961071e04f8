"""A deleted workspace's agents projections leave every store (``core.services.workspace_delete``).

Found by the workspace id alone (the rows are gone when a dedicated store's delivery runs), and
idempotent:

* ``agents.workspace_documents`` (DocumentStore): its message and state documents;
* ``agents.workspace_graph`` (GraphStore): its ``Memory`` and ``MemoryEntity`` nodes, with their
  ``ABOUT`` edges;
* ``agents.workspace_vectors`` (VectorStore): its memory collections, every model's;
* ``agents.workspace_events`` (after the commit): its interaction events, from every partition
  of the flywheel's table (plain ``workspace_id`` columns, no foreign key to cascade).
"""

from __future__ import annotations

from agents import stores
from agents.flywheel.services import events_delete_for_workspace
from core import outbox
from core.models import OutboxEvent
from core.projections import projection
from core.services import EVENT_WORKSPACE_DELETED
from core.storage.filters import Eq
from core.storage.ports import DocumentStore, GraphStore, UnknownCollection, UnknownLabel, VectorStore

PAGE = 1000


def _workspace(event: OutboxEvent) -> int:
    return int(event.payload["workspace_id"])


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_documents", app=stores.APP, kind="documents")
def drop_documents(event: OutboxEvent, store: DocumentStore) -> None:
    where = Eq("workspace_id", _workspace(event))
    for collection in (stores.MESSAGES, stores.STATE):
        try:
            while ids := store.find_ids(collection, where=where, limit=PAGE):
                store.delete_many(collection, ids)
        except UnknownCollection:
            continue  # the store never held one


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_graph", app=stores.APP, kind="graph")
def drop_graph(event: OutboxEvent, store: GraphStore) -> None:
    for label in (stores.MEMORY_LABEL, stores.ENTITY_LABEL):
        try:
            store.delete_nodes(label, where=Eq("workspace_id", _workspace(event)))
        except UnknownLabel:
            continue  # the store never held a node of this label


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    prefix = stores.memory_collection(workspace_id=_workspace(event), model="x")[:-1]
    for collection in store.list_collections():
        if collection.name.startswith(prefix):
            store.drop_collection(collection.name)


@outbox.register(EVENT_WORKSPACE_DELETED, name="agents.workspace_events")
def drop_events(event: OutboxEvent) -> None:
    events_delete_for_workspace(workspace_id=_workspace(event))
