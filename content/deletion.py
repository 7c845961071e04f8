"""Deleting a document from every store it lives in, in one transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from content import caching, embedding, stores
from content.models import Chunk, Document
from core.services import audit_record, outbox_publish
from core.storage.ports import NodeRef

EVENT_DELETED = "content.document.deleted"


def document_delete(*, workspace_id: int, document_id: int, actor: Any = None) -> None:
    """Delete a document from every store: row, chunks, body, vectors, graph node (and its
    edges). Raises ``Document.DoesNotExist`` when it is not in this workspace."""
    workspace_id = int(workspace_id)
    with transaction.atomic():
        stores.lock_workspace(workspace_id)
        document = Document.objects.select_for_update().get(pk=int(document_id), workspace_id=workspace_id)
        chunk_keys = [str(i) for i in Chunk.objects.filter(document_id=document.pk).values_list("id", flat=True)]
        if chunk_keys:
            for collection in embedding.workspace_collections(workspace_id):
                stores.vectors().delete(collection, chunk_keys)
        stores.documents().delete(stores.DOCUMENTS_COLLECTION, str(document.pk))
        graph = stores.graph()
        graph.define_node_label(stores.GRAPH_LABEL)
        graph.delete_node(NodeRef(stores.GRAPH_LABEL, str(document.pk)))
        info = {"external_id": document.external_id, "title": document.title}
        pk = document.pk
        document.delete()  # cascades to its chunks
        outbox_publish(
            event_type=EVENT_DELETED,
            payload={"workspace_id": workspace_id, "document_id": pk, **info},
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
