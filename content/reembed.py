"""Switching a workspace to another embedding model without stopping its searches."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from content import caching, embedding, stores
from content.embeddings import get_embedder
from content.models import Chunk, Document, WorkspaceEmbedding
from core.models import Workspace
from core.services import audit_record


def workspace_reembed(
    *,
    workspace_id: int,
    provider: str,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
) -> int:
    """Re-embed every chunk of the workspace with ``provider`` into that model's collection,
    then switch the workspace to it and drop its other collections.

    The chunks are embedded in batches, each in its own short transaction, while searches keep
    using the old model; the final switch (chunks added meanwhile, the model row, the drop) is
    one transaction under the workspace's exclusive lock. ``progress(done, total)`` is called
    after each batch. Returns the number of chunks embedded.
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
    with transaction.atomic():
        collection = embedding.ensure_collection(workspace_id, new_model)

    total = Chunk.objects.filter(workspace_id=workspace_id).count()
    done: set[int] = set()

    def embed_batch(rows: list[tuple[int, int, str]]) -> None:
        doc_ids = {doc_id for _, doc_id, _ in rows}
        titles = dict(Document.objects.filter(id__in=doc_ids).values_list("id", "title"))
        embedding.embed_rows(
            workspace_id=workspace_id,
            rows=rows,
            embedder=embedder,
            collection=collection,
            titles=titles,
            metadata=embedding.document_metadata(doc_ids),
        )
        done.update(chunk_id for chunk_id, _, _ in rows)
        if progress is not None:
            progress(len(done), max(total, len(done)))

    # 1. every chunk that exists now, batch by batch (searches still use the old model)
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Chunk.objects.filter(workspace_id=workspace_id, id__gt=last_id)
                .order_by("id")
                .values_list("id", "document_id", "text")[:size]
            )
            if not rows:
                break
            embed_batch(rows)
        last_id = rows[-1][0]

    # 2. the switch: nobody else writes to the workspace while it runs
    with transaction.atomic():
        stores.lock_workspace(workspace_id, exclusive=True)
        collection = embedding.ensure_collection(workspace_id, new_model)
        current = set(Chunk.objects.filter(workspace_id=workspace_id).values_list("id", flat=True))
        missing = sorted(current - done)
        total = len(current)
        for ids in embedding.batches(missing, size):
            embed_batch(list(Chunk.objects.filter(id__in=ids).order_by("id").values_list("id", "document_id", "text")))
        now = timezone.now()
        Chunk.objects.filter(workspace_id=workspace_id).update(embedding_model=new_model, embedded_at=now)
        Document.objects.filter(workspace_id=workspace_id).update(
            embedding_model=new_model, status=Document.Status.READY
        )
        WorkspaceEmbedding.objects.update_or_create(
            workspace_id=workspace_id, defaults={"provider": provider, "model": new_model}
        )
        dropped = [name for name in embedding.workspace_collections(workspace_id) if name != collection]
        for name in dropped:
            stores.vectors().drop_collection(name)
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
