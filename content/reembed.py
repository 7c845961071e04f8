"""Switching a workspace to another embedding model without stopping its searches."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from content import caching, embedding, stores, vector_bulk
from content.embeddings import get_embedder
from content.models import Chunk, Document, WorkspaceEmbedding
from core.models import Workspace
from core.services import audit_record, outbox_publish

EVENT_REEMBEDDED = "content.workspace.reembedded"
#: rounds of embedding the chunks added meanwhile outside the switch's lock before the last one
#: embeds the few that are still missing under it
SWITCH_ROUNDS = 3


def workspace_reembed(
    *,
    workspace_id: int,
    provider: str,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
) -> int:
    """Re-embed every chunk of the workspace with ``provider`` into that model's collection,
    then switch the workspace to it and drop its other collections.

    The chunks are embedded in batches (outside any transaction) and written in committed
    slices while searches keep using the old model; the final switch (the model row, the
    chunks' and documents' model, the drop of the old collections through the
    ``content.workspace.reembedded`` event's projection) is one transaction under the
    workspace's exclusive lock, entered once the chunks added meanwhile are embedded too.
    ``progress(done, total)`` is called after each batch. Returns the number of chunks embedded.
    """
    workspace_id = int(workspace_id)
    if not Workspace.objects.filter(pk=workspace_id).exists():
        raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
    embedder = get_embedder(provider)
    new_model = embedder.model
    old_model = embedding.workspace_embedding_model(workspace_id=workspace_id)
    size = int(batch_size or settings.STRATA_EMBEDDING_BATCH_SIZE)
    if size < 1:
        raise ValueError(f"batch_size must be positive, got {size}")
    collection = embedding.ensure_collections(workspace_id, new_model)

    total = Chunk.objects.filter(workspace_id=workspace_id).count()
    done: set[int] = set()

    # a large re-embed stages its vectors (one index build; content/vector_bulk.py) until step 2
    load = vector_bulk.open_load(
        workspace_id=workspace_id, collection=collection, model=new_model, rows=total, mark=False
    )

    def embed_batch(rows: list[tuple[int, int, str]]) -> None:
        embedding.embed_rows(
            workspace_id=workspace_id, rows=rows, embedder=embedder, collection=collection, mark=False, load=load
        )
        done.update(chunk_id for chunk_id, _, _ in rows)
        if progress is not None:
            progress(len(done), max(total, len(done)))

    def missing() -> list[int]:
        return sorted(set(Chunk.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)) - done)

    # 1. every chunk that exists now, batch by batch (searches still use the old model)
    last_id = 0
    while True:
        rows = list(
            Chunk.objects.filter(workspace_id=workspace_id, id__gt=last_id)
            .order_by("id")
            .values_list("id", "document_id", "text")[:size]
        )
        if not rows:
            break
        try:
            embed_batch(rows)
        except BaseException:
            if load is not None:
                load.abort()
            raise
        last_id = rows[-1][0]
    if load is not None:
        load.finish()
        load = None

    # 2. the chunks added meanwhile, still outside the lock
    for _ in range(SWITCH_ROUNDS):
        ids = missing()
        if not ids:
            break
        for part in embedding.batches(ids, size):
            embed_batch(list(Chunk.objects.filter(id__in=part).order_by("id").values_list("id", "document_id", "text")))

    # 3. the switch: nobody else writes to the workspace while it runs
    with transaction.atomic(), ExitStack() as held:
        stores.lock_workspace(workspace_id, exclusive=True)
        held.enter_context(stores.routes_locked())
        for part in embedding.batches(missing(), size):  # the few added in the last moments
            embed_batch(list(Chunk.objects.filter(id__in=part).order_by("id").values_list("id", "document_id", "text")))
        total = Chunk.objects.filter(workspace_id=workspace_id).count()
        now = timezone.now()
        Chunk.objects.filter(workspace_id=workspace_id).update(embedding_model=new_model, embedded_at=now)
        Document.objects.filter(workspace_id=workspace_id).update(
            embedding_model=new_model, status=Document.Status.READY
        )
        WorkspaceEmbedding.objects.update_or_create(
            workspace_id=workspace_id, defaults={"provider": provider, "model": new_model}
        )
        dropped = [name for name in embedding.workspace_collections(workspace_id) if name != collection]
        outbox_publish(
            event_type=EVENT_REEMBEDDED,
            payload={"workspace_id": workspace_id, "collection": collection, "dropped": dropped},
            workspace_id=workspace_id,
        )
        audit_record(
            actor=None,
            action="content.workspace.reembed",
            object_type="core.Workspace",
            object_id=workspace_id,
            workspace_id=workspace_id,
            changes={"from": old_model, "to": new_model, "chunks": len(done), "dropped": dropped},
        )
        caching.bump_content_version(workspace_id)
    if progress is not None:
        progress(len(done), max(total, len(done)))
    return len(done)
