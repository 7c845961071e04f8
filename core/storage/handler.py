"""The storage handler: which adapter serves (app, kind), one instance per thread.

Like Django's ``CacheHandler``: ``STRATA_STORAGE[app][kind]`` (falling back to
``STRATA_STORAGE["default"][kind]``) is ``{"BACKEND": "dotted.Class", **options}``; the options
are passed to the class as keyword arguments. Instances live per thread (``asgiref`` Local), so
clients that are not thread-safe never cross threads, and adapters keep their clients fork-safe
(they reconnect in a new process). ``close_all()`` runs when a request finishes and when a
Celery worker process starts or shuts down (wired in ``core.apps`` and ``core.celery``);
``reset()`` drops every instance (after a fork, or when the settings change).
"""

from __future__ import annotations

from typing import Any

from asgiref.local import Local
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from core.storage.ports import Cache, DocumentStore, GraphStore, Store, VectorStore

KINDS = ("documents", "vectors", "graph", "cache")
PORTS: dict[str, type[Store]] = {
    "documents": DocumentStore,
    "vectors": VectorStore,
    "graph": GraphStore,
    "cache": Cache,
}


def storage_config(app: str, kind: str) -> dict[str, Any]:
    """The settings entry for (app, kind): the app's own, else the default one."""
    if kind not in KINDS:
        raise ImproperlyConfigured(f"unknown storage kind {kind!r}; expected one of {KINDS}")
    config = settings.STRATA_STORAGE.get(app, {}).get(kind) or settings.STRATA_STORAGE.get("default", {}).get(kind)
    if not config or "BACKEND" not in config:
        raise ImproperlyConfigured(f"STRATA_STORAGE has no {kind!r} backend for app {app!r} nor a default")
    return dict(config)


def create_store(app: str, kind: str) -> Store:
    """A new adapter instance for (app, kind), checked to implement the kind's port."""
    config = storage_config(app, kind)
    backend = import_string(config.pop("BACKEND"))
    store = backend(**config)
    if not isinstance(store, PORTS[kind]):
        raise ImproperlyConfigured(
            f"STRATA_STORAGE backend {backend.__module__}.{backend.__qualname__} for ({app!r}, {kind!r}) "
            f"does not implement {PORTS[kind].__name__}"
        )
    return store


class StorageHandler:
    """Per-thread adapter instances by (app, kind)."""

    def __init__(self) -> None:
        self._local = Local()

    def get(self, app: str, kind: str) -> Store:
        stores: dict[tuple[str, str], Store] | None = getattr(self._local, "stores", None)
        if stores is None:
            stores = self._local.stores = {}
        store = stores.get((app, kind))
        if store is None:
            store = stores[(app, kind)] = create_store(app, kind)
        return store

    def all(self) -> list[Store]:
        """The instances created in this thread."""
        return list(getattr(self._local, "stores", {}).values())

    def close_all(self, **kwargs: Any) -> None:
        """Close this thread's stores (they reconnect on their next call). A signal receiver."""
        for store in self.all():
            store.close()

    def reset(self, **kwargs: Any) -> None:
        """Forget every instance without closing it (after a fork the clients belong to the parent)."""
        self._local = Local()


storages = StorageHandler()
