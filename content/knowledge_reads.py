"""Reads of documents for other apps (the knowledge app's extraction, import, pages and
retrieval): rows by id or external id, always scoped to one workspace, plus the workspace's
embedder for texts that must share its vector space (facts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from content.models import Document, DocumentSource
from content.query import parse_query
from content.semantic import query_vector
from content.workspace_model import query_embedder, workspace_embedder


@dataclass(frozen=True)
class DocumentSourceView:
    id: int
    workspace_id: int
    external_id: str
    title: str
    text: str
    metadata: dict[str, Any]
    content_hash: str


def document_sources(*, workspace_id: int, document_ids: Iterable[int]) -> list[DocumentSourceView]:
    """Title, text, metadata and content hash of the workspace's documents among ``document_ids``
    (others are absent), ordered by id."""
    ids = sorted({int(i) for i in document_ids})
    rows = Document.objects.filter(workspace_id=workspace_id, id__in=ids).order_by("id")
    rows = rows.values_list("id", "external_id", "title", "content_hash")
    sources = {
        doc_id: (text, metadata)
        for doc_id, text, metadata in DocumentSource.objects.filter(document_id__in=ids).values_list(
            "document_id", "text", "metadata"
        )
    }
    views = []
    for doc_id, ext, title, content_hash in rows:
        text, metadata = sources.get(doc_id, ("", {}))
        views.append(DocumentSourceView(doc_id, int(workspace_id), ext, title, text, metadata or {}, content_hash))
    return views


def document_ids_by_external_id(*, workspace_id: int, external_ids: Iterable[str]) -> dict[str, int]:
    """external id -> document id, for those of the workspace that exist."""
    ids = list({str(e) for e in external_ids})
    found: dict[str, int] = {}
    for start in range(0, len(ids), 5000):
        found.update(
            Document.objects.filter(workspace_id=workspace_id, external_id__in=ids[start : start + 5000]).values_list(
                "external_id", "id"
            )
        )
    return found


def document_labels(*, workspace_id: int, document_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """document id -> (external id, title), for those of the workspace that exist."""
    ids = list({int(i) for i in document_ids})
    rows = Document.objects.filter(workspace_id=workspace_id, id__in=ids).values_list("id", "external_id", "title")
    return {doc_id: (ext, title) for doc_id, ext, title in rows}


def workspace_ids_of_documents(*, document_ids: Sequence[int]) -> dict[int, int]:
    """document id -> workspace id (for handlers that get ids only)."""
    return dict(Document.objects.filter(id__in=list(document_ids)).values_list("id", "workspace_id"))


def embed_for_workspace(*, workspace_id: int, texts: Sequence[str]) -> tuple[str, np.ndarray]:
    """The workspace's embedding model and the unit vectors of ``texts`` (a model call: never
    inside a transaction). Raises ``EmbeddingError``."""
    embedder, model = workspace_embedder(int(workspace_id), create=False)
    return model, np.asarray(embedder.embed(list(texts)), dtype=np.float32)


def embed_question(*, workspace_id: int, text: str) -> tuple[str, np.ndarray] | None:
    """The workspace's model and the query vector of ``text``; None before its first ingest.
    The text is embedded as a search embeds it (its positive words) and through the same cache,
    so a question just searched in hybrid mode is not encoded a second time."""
    found = query_embedder(int(workspace_id))
    if found is None:
        return None
    embedder, model = found
    return model, query_vector(embedder, model, parse_query(text).text or text, workspace_id=int(workspace_id))
