"""Removing one workspace's items from a store by its id alone, for the apps' projections of
``core.services.EVENT_WORKSPACE_DELETED`` (the rows are gone when a dedicated store's delivery
runs). Each function is idempotent and treats a collection or label the store never held as
already empty."""

from __future__ import annotations

from collections.abc import Iterable

from core.models import OutboxEvent
from core.storage.filters import Eq
from core.storage.ports import DocumentStore, GraphStore, UnknownCollection, UnknownLabel, VectorStore

PAGE = 5000  # document ids per find/delete round


def workspace_of(event: OutboxEvent) -> int:
    """The deleted workspace's id, from the event's payload."""
    return int(event.payload["workspace_id"])


def delete_documents(store: DocumentStore, collections: Iterable[str], workspace_id: int) -> None:
    """Delete the documents whose ``workspace_id`` field is the workspace, a page at a time."""
    where = Eq("workspace_id", workspace_id)
    for collection in collections:
        try:
            while ids := store.find_ids(collection, where=where, limit=PAGE):
                store.delete_many(collection, ids)
        except UnknownCollection:
            continue


def delete_nodes(store: GraphStore, labels: Iterable[str], workspace_id: int) -> None:
    """Delete the nodes whose ``workspace_id`` property is the workspace, with their edges."""
    for label in labels:
        try:
            store.delete_nodes(label, where=Eq("workspace_id", workspace_id))
        except UnknownLabel:
            continue


def drop_collections(store: VectorStore, prefix: str) -> None:
    """Drop every vector collection whose name starts with ``prefix`` (end it with a separator:
    ``...ws1.`` must not match ``...ws12.``)."""
    for collection in store.list_collections():
        if collection.name.startswith(prefix):
            store.drop_collection(collection.name)
