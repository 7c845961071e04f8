"""Deleting a document: its rows and an outbox event in one transaction; its body, vectors and
graph node (with its edges) go with them through the event's projections
(content/projections.py), in the same transaction for the stores that share it."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.db import transaction

from content import caching, stores
from content.models import Chunk, Document
from core.services import audit_record, outbox_publish

EVENT_DELETED = "content.document.deleted"


def document_delete(*, workspace_id: int, document_id: int, actor: Any = None) -> None:
    """Delete a document from every store: row, chunks, body, vectors, graph node (and its
    edges). Raises ``Document.DoesNotExist`` when it is not in this workspace."""
    workspace_id = int(workspace_id)
    with transaction.atomic(), ExitStack() as held:
        stores.lock_workspace(workspace_id)
        held.enter_context(stores.routes_locked())
        document = Document.objects.select_for_update().get(pk=int(document_id), workspace_id=workspace_id)
        chunk_ids = list(Chunk.objects.filter(document_id=document.pk).order_by("id").values_list("id", flat=True))
        info = {"external_id": document.external_id, "title": document.title}
        pk = document.pk
        document.delete()  # cascades to its chunks and its DocumentSource
        outbox_publish(
            event_type=EVENT_DELETED,
            payload={"workspace_id": workspace_id, "document_id": pk, "chunk_ids": chunk_ids, **info},
            workspace_id=workspace_id,
        )
        audit_record(
            actor=actor,
            action="content.document.delete",
            object_type="content.Document",
            object_id=pk,
            workspace_id=workspace_id,
            changes=info,
        )
        caching.bump_content_version(workspace_id)
