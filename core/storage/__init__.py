"""Storage ports and the per-app adapter registry.

    from core.storage import get_vector_store
    vectors = get_vector_store("content")

The adapter for (app, kind) comes from ``settings.STRATA_STORAGE[app][kind]``, falling back
to ``STRATA_STORAGE["default"][kind]``; each entry is ``{"BACKEND": "dotted.Class", **options}``
and the options are passed to the class as keyword arguments.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from core.storage.ports import Cache, DocumentStore, GraphStore, VectorStore

KINDS = ("documents", "vectors", "graph", "cache")


def storage_config(app: str, kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ImproperlyConfigured(f"unknown storage kind {kind!r}; expected one of {KINDS}")
    config = settings.STRATA_STORAGE.get(app, {}).get(kind) or settings.STRATA_STORAGE.get("default", {}).get(kind)
    if not config or "BACKEND" not in config:
        raise ImproperlyConfigured(f"STRATA_STORAGE has no {kind!r} backend for app {app!r} nor a default")
    return dict(config)


@cache
def _get_store(app: str, kind: str) -> Any:
    config = storage_config(app, kind)
    backend = import_string(config.pop("BACKEND"))
    return backend(**config)


def get_document_store(app: str) -> DocumentStore:
    return _get_store(app, "documents")


def get_vector_store(app: str) -> VectorStore:
    return _get_store(app, "vectors")


def get_graph_store(app: str) -> GraphStore:
    return _get_store(app, "graph")


def get_cache(app: str) -> Cache:
    return _get_store(app, "cache")


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STRATA_STORAGE", "STRATA_GRAPH_NAME", "CACHES", "DATABASES"}:
        _get_store.cache_clear()


setting_changed.connect(_reset)
