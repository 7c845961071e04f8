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
from core.storage import workspace_purge
from core.storage.ports import GraphStore, VectorStore
from core.storage.workspace_purge import workspace_of
from knowledge import stores


@projection(EVENT_WORKSPACE_DELETED, name="knowledge.workspace_graph", app=stores.APP, kind="graph")
def drop_graph(event: OutboxEvent, store: GraphStore) -> None:
    workspace_purge.delete_nodes(store, [stores.ENTITY_LABEL, stores.DOCUMENT_LABEL], workspace_of(event))


@projection(EVENT_WORKSPACE_DELETED, name="knowledge.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    workspace_purge.drop_collections(store, stores.fact_collection(workspace_id=workspace_of(event), model="x")[:-1])
