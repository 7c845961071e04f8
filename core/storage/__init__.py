"""Storage ports and the per-app adapter registry.

    from core.storage import get_vector_store
    vectors = get_vector_store("content")

The adapter for (app, kind) comes from ``settings.STRATA_STORAGE[app][kind]``, falling back
to ``STRATA_STORAGE["default"][kind]``; each entry is ``{"BACKEND": "dotted.Class", **options}``
and the options are passed to the class as keyword arguments (``core.storage.handler``).
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed

from core.storage.handler import KINDS, storage_config, storages
from core.storage.ports import Cache, DocumentStore, GraphStore, VectorStore

__all__ = [
    "KINDS",
    "get_cache",
    "get_document_store",
    "get_graph_store",
    "get_vector_store",
    "storage_config",
    "storages",
]


def get_document_store(app: str) -> DocumentStore:
    return storages.get(app, "documents")  # type: ignore[return-value]


def get_vector_store(app: str) -> VectorStore:
    return storages.get(app, "vectors")  # type: ignore[return-value]


def get_graph_store(app: str) -> GraphStore:
    return storages.get(app, "graph")  # type: ignore[return-value]


def get_cache(app: str) -> Cache:
    return storages.get(app, "cache")  # type: ignore[return-value]


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STRATA_STORAGE", "STRATA_GRAPH_NAME", "CACHES", "DATABASES"}:
        storages.reset()


setting_changed.connect(_reset)
