"""The content app's handles on its storage ports, and how it names things in them (collections,
labels, cache keys, the workspace lock)."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import AbstractContextManager
from typing import Any

from core.locks import advisory_xact_lock
from core.storage import get_cache, get_document_store, get_graph_store, get_vector_store, routing, write_stores
from core.storage.ports import Cache, DocumentStore, GraphStore, Store, VectorStore

APP = "content"
DOCUMENTS_COLLECTION = "content.documents"  # key: str(Document.id); body: {"workspace_id", "title", "text", "metadata"}
GRAPH_LABEL = "Document"  # node key: str(Document.id); properties: workspace_id, title, external_id
GRAPH_EDGE_TYPES: tuple[str, ...] = ()  # content writes no edges (the knowledge app will)
VECTOR_PREFIX = "content."  # every chunk collection (below) starts with it


def documents() -> DocumentStore:
    return get_document_store(APP)


def vectors() -> VectorStore:
    return get_vector_store(APP)


def graph() -> GraphStore:
    return get_graph_store(APP)


def cache() -> Cache:
    return get_cache(APP)


def vector_targets(route: routing.Route | None = None) -> list[tuple[str, Store]]:
    """``(alias, VectorStore)`` of every backend receiving the app's vector writes (the read one
    first); pass the route read under its lock with ``routing.write_route`` inside a transaction."""
    return write_stores(APP, "vectors", route)


def chunk_collection(*, workspace_id: int, model: str) -> str:
    """One vector collection per (workspace, embedding model); key: str(Chunk.id);
    metadata: workspace_id, document_id, chunk_id and the document's metadata under "doc"."""
    return f"{VECTOR_PREFIX}ws{int(workspace_id)}.{re.sub(r'[^A-Za-z0-9_.-]+', '-', model)}"


def cache_key(prefix: str, *parts: Any) -> str:
    """A cache key for a cached read: ``content:<prefix>:<sha256 of the parts>``."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"content:{prefix}:{digest}"


def routes_locked() -> AbstractContextManager[dict[str, routing.Route]]:
    """Read the app's storage routes under their shared locks (``routing.routes_held``), in one
    fixed order, before any row lock (a writer that takes them later, after locking rows, could
    deadlock with ``storage_move`` changing a route while a vector slice waits for those rows);
    the writes inside the block reuse them."""
    return routing.routes_held(APP, ("documents", "graph", "vectors"))


def lock_workspace(workspace_id: int, *, exclusive: bool = False) -> None:
    """Transaction-scoped advisory lock of a workspace's content (shared for writers,
    exclusive for the embedding-model switch)."""
    advisory_xact_lock(f"content.workspace:{int(workspace_id)}", shared=not exclusive)
