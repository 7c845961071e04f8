"""The content app's handles on its storage ports, and how it names things in them."""

from __future__ import annotations

import re

from core.storage import get_cache, get_document_store, get_graph_store, get_vector_store
from core.storage.ports import Cache, DocumentStore, GraphStore, VectorStore

APP = "content"
DOCUMENTS_COLLECTION = "content.documents"  # key: str(Document.id); body: {"workspace_id", "title", "text", "metadata"}
GRAPH_LABEL = "Document"  # node key: str(Document.id); properties: workspace_id, title, external_id


def documents() -> DocumentStore:
    return get_document_store(APP)


def vectors() -> VectorStore:
    return get_vector_store(APP)


def graph() -> GraphStore:
    return get_graph_store(APP)


def cache() -> Cache:
    return get_cache(APP)


def chunk_collection(*, workspace_id: int, model: str) -> str:
    """One vector collection per (workspace, embedding model); key: str(Chunk.id);
    metadata: workspace_id, document_id, chunk_id and the document's metadata under "doc"."""
    return f"content.ws{int(workspace_id)}.{re.sub(r'[^A-Za-z0-9_.-]+', '-', model)}"


def workspace_cache_tag(workspace_id: int) -> str:
    return f"content:ws:{int(workspace_id)}"


def document_cache_tag(document_id: int) -> str:
    return f"content:doc:{int(document_id)}"
