"""A deleted workspace's knowledge projections leave every store (``core.services.workspace_delete``).

Found by the workspace id alone (the rows are gone when a dedicated store's delivery runs), and
idempotent:

* ``knowledge.workspace_graph`` (GraphStore): its ``Entity`` and ``DocumentRef`` nodes, with
  every edge touching them (edges never join two workspaces, ``knowledge/stores.py``);
* ``knowledge.workspace_vectors`` (VectorStore): its fact collections, every model's.
"""

from __future__ import annotations

from core.models import OutboxEvent
from core.projections import projection
from core.services import EVENT_WORKSPACE_DELETED
from core.storage.filters import Eq
from core.storage.ports import GraphStore, UnknownLabel, VectorStore
from knowledge import stores


def _workspace(event: OutboxEvent) -> int:
    return int(event.payload["workspace_id"])


@projection(EVENT_WORKSPACE_DELETED, name="knowledge.workspace_graph", app=stores.APP, kind="graph")
def drop_graph(event: OutboxEvent, store: GraphStore) -> None:
    for label in (stores.ENTITY_LABEL, stores.DOCUMENT_LABEL):
        try:
            store.delete_nodes(label, where=Eq("workspace_id", _workspace(event)))
        except UnknownLabel:
            continue  # the store never held a node of this label


@projection(EVENT_WORKSPACE_DELETED, name="knowledge.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    prefix = stores.fact_collection(workspace_id=_workspace(event), model="x")[:-1]
    for collection in store.list_collections():
        if collection.name.startswith(prefix):
            store.drop_collection(collection.name)
