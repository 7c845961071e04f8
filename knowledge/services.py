"""Writes of the knowledge app (the public facade): each writes its rows and an outbox event
in one transaction; the graph and the fact vectors follow by projection.

Each story has its module; other code imports the services from here:

* ``knowledge.entities``  entity types, resolving names to entities
* ``knowledge.writes``    relations and facts, the graph-changed events
* ``knowledge.extract``   extraction of documents (Celery, fed by content's outbox events)
* ``knowledge.merge``     entity resolution: merge, undo from the audit log
* ``knowledge.imports``   graph_import / graph_export (JSON Lines)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from core.services import audit_record, outbox_publish
from knowledge.entities import EntitySpec, KnowledgeInputError, entity_type_create
from knowledge.exports import graph_export
from knowledge.extract import document_forget, documents_extract, extraction_apply
from knowledge.handlers import EVENT_EXTRACT_REQUESTED
from knowledge.imports import graph_import
from knowledge.merge import entities_merge_into, entities_resolve, entity_merge, entity_merge_undo

__all__ = [
    "EVENT_EXTRACT_REQUESTED",
    "EntitySpec",
    "KnowledgeInputError",
    "document_forget",
    "documents_extract",
    "documents_reextract",
    "entities_merge_into",
    "entities_resolve",
    "entity_merge",
    "entity_merge_undo",
    "entity_type_create",
    "extraction_apply",
    "graph_export",
    "graph_import",
]


def documents_reextract(*, workspace_id: int, document_ids: Sequence[int], actor: Any = None) -> int:
    """Ask the worker to extract these documents again, even unchanged (after a change of the
    extractors' configuration, or from the admin's action)."""
    ids = sorted({int(i) for i in document_ids})
    if not ids:
        return 0
    with transaction.atomic():
        outbox_publish(
            event_type=EVENT_EXTRACT_REQUESTED,
            payload={"workspace_id": int(workspace_id), "document_ids": ids},
            workspace_id=int(workspace_id),
        )
        audit_record(
            actor=actor,
            action="knowledge.documents.reextract",
            object_type="content.Document",
            object_id=f"{len(ids)} documents",
            workspace_id=int(workspace_id),
            changes={"document_ids": ids[:1000]},
        )
    return len(ids)
