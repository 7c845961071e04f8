"""Storage ports and the per-app adapter registry.

    from core.storage import get_vector_store
    vectors = get_vector_store("content")

The adapters for (app, kind) come from ``settings.STRATA_STORAGE[app][kind]``, falling back
to ``STRATA_STORAGE["default"][kind]``: one ``{"BACKEND": "dotted.Class", **options}`` or several
by alias (``core.storage.routing``); the options are passed to the class as keyword arguments
(``core.storage.handler``). ``get_*_store(app)`` return the backend that serves reads;
``write_stores(app, kind)`` the backends that receive writes (projections fan out to them).
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed

from core.storage import routing
from core.storage.handler import KINDS, storage_config, storages
from core.storage.ports import Cache, DocumentStore, GraphStore, Store, VectorStore

__all__ = [
    "KINDS",
    "get_cache",
    "get_document_store",
    "get_graph_store",
    "get_vector_store",
    "storage_config",
    "storages",
    "write_stores",
]


def get_document_store(app: str) -> DocumentStore:
    return storages.get(app, "documents")  # type: ignore[return-value]


def get_vector_store(app: str) -> VectorStore:
    return storages.get(app, "vectors")  # type: ignore[return-value]


def get_graph_store(app: str) -> GraphStore:
    return storages.get(app, "graph")  # type: ignore[return-value]


def get_cache(app: str) -> Cache:
    return storages.get(app, "cache")  # type: ignore[return-value]


def write_stores(app: str, kind: str, route: routing.Route | None = None) -> list[tuple[str, Store]]:
    """``(alias, store)`` of every backend receiving (app, kind)'s writes, the read one first.
    Pass the ``route`` a writer read with ``routing.write_route`` inside its transaction."""
    route = route or routing.route(app, kind)
    return [(alias, storages.backend(app, kind, alias)) for alias in route.ordered_writes()]


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STRATA_STORAGE", "STRATA_GRAPH_NAME", "CACHES", "DATABASES"}:
        storages.reset()
        routing.clear_cache()


setting_changed.connect(_reset)
