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
from core.storage import workspace_purge
from core.storage.ports import DocumentStore, GraphStore, VectorStore
from core.storage.workspace_purge import workspace_of


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_bodies", app=stores.APP, kind="documents")
def drop_bodies(event: OutboxEvent, store: DocumentStore) -> None:
    workspace_purge.delete_documents(store, [stores.DOCUMENTS_COLLECTION], workspace_of(event))


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_graph_nodes", app=stores.APP, kind="graph")
def drop_graph_nodes(event: OutboxEvent, store: GraphStore) -> None:
    workspace_purge.delete_nodes(store, [stores.GRAPH_LABEL], workspace_of(event))


@projection(EVENT_WORKSPACE_DELETED, name="content.workspace_vectors", app=stores.APP, kind="vectors")
def drop_vectors(event: OutboxEvent, store: VectorStore) -> None:
    for name in workspace_collections(store, workspace_of(event)):
        store.drop_collection(name)


@outbox.register(EVENT_WORKSPACE_DELETED, name="content.workspace_fulltext", transactional=False)
def drop_fulltext(event: OutboxEvent) -> None:
    """After the commit, outside the deleting transaction: ``DROP TABLE`` takes an exclusive lock."""
    bm25_workspaces.drop(workspace_of(event))
