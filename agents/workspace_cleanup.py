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
from core.storage import workspace_purge
from core.storage.ports import DocumentStore, GraphStore, VectorStore
from core.storage.workspace_purge import workspace_of


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_documents", app=stores.APP, kind="documents")
def drop_documents(event: OutboxEvent, store: DocumentStore) -> None:
    workspace_purge.delete_documents(store, [stores.MESSAGES, stores.STATE], workspace_of(event))


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_graph", app=stores.APP, kind="graph")
def drop_graph(event: OutboxEvent, store: GraphStore) -> None:
    workspace_purge.delete_nodes(store, [stores.MEMORY_LABEL, stores.ENTITY_LABEL], workspace_of(event))


@projection(EVENT_WORKSPACE_DELETED, name="agents.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    workspace_purge.drop_collections(store, stores.memory_collection(workspace_id=workspace_of(event), model="x")[:-1])


@outbox.register(EVENT_WORKSPACE_DELETED, name="agents.workspace_events")
def drop_events(event: OutboxEvent) -> None:
    events_delete_for_workspace(workspace_id=workspace_of(event))
