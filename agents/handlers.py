"""Outbox handlers of the agents app, run by the outbox relay in the Celery worker: the memory
vectors (an embedding call, so after the commit); importing ``projections`` registers the
document and graph projections."""

from __future__ import annotations

from django.db import transaction

from agents import projections, stores, workspace_cleanup  # noqa: F401  (importing them registers them)
from agents.memory_writes import EVENT_MEMORIES_CHANGED
from agents.models import Memory
from content import selectors as content
from core import outbox
from core.models import OutboxEvent
from core.storage.ports import UnknownCollection, VectorItem, VectorStore

INDEXED_FIELDS = {"agent_id": "integer", "user_id": "integer"}


@outbox.register(EVENT_MEMORIES_CHANGED, name="agents.embed_memories", transactional=False)
def embed_memories(event: OutboxEvent) -> None:
    """Write the vectors of the named memories that exist and delete those of memories that are
    gone, in every vector backend receiving the app's writes (idempotent: the same rows give the
    same vectors)."""
    workspace_id = int(event.payload["workspace_id"])
    ids = [int(i) for i in event.payload.get("memory_ids") or []]
    rows = list(
        Memory.objects.filter(pk__in=ids, workspace_id=workspace_id).values_list(
            "pk", "statement", "agent_id", "user_id"
        )
    )
    found = {r[0] for r in rows}
    gone = [str(i) for i in ids if i not in found]
    for _, store in stores.vector_targets():
        forget_vectors(store, workspace_id, gone)  # type: ignore[arg-type]
    if not rows:
        return
    model, matrix = content.embed_for_workspace(workspace_id=workspace_id, texts=[r[1] for r in rows])
    items = [
        VectorItem(
            str(pk),
            vector.tolist(),
            {"workspace_id": workspace_id, "memory_id": pk, "agent_id": agent_id, "user_id": user_id or 0},
        )
        for (pk, _, agent_id, user_id), vector in zip(rows, matrix, strict=True)
    ]
    name = stores.memory_collection(workspace_id=workspace_id, model=model)
    for _, store in stores.vector_targets():
        write_vectors(store, name, model, items)  # type: ignore[arg-type]


def write_vectors(store: VectorStore, name: str, model: str, items: list[VectorItem]) -> None:
    with transaction.atomic():
        try:
            store.get_collection(name)
        except UnknownCollection:
            store.create_collection(
                name,
                dimension=1536,
                model=model,
                indexed_fields=INDEXED_FIELDS,
                index_dimensions=content.native_dimension(model),
            )
        store.upsert(name, items, model=model)


def forget_vectors(store: VectorStore, workspace_id: int, keys: list[str]) -> None:
    """Delete the keys from every memory collection of the workspace (whatever the model)."""
    if not keys:
        return
    prefix = stores.memory_collection(workspace_id=workspace_id, model="x")[:-1]
    for collection in store.list_collections():
        if collection.name.startswith(prefix):
            store.delete(collection.name, keys)
