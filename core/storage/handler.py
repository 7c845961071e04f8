"""The storage handler: which adapter serves (app, kind), one instance per thread and alias.

Like Django's ``CacheHandler``: ``STRATA_STORAGE[app][kind]`` (falling back to
``STRATA_STORAGE["default"][kind]``) names one backend ``{"BACKEND": "dotted.Class", **options}``
or several by alias (``core.storage.routing``); the options are passed to the class as keyword
arguments. ``get(app, kind)`` is the backend the route says serves reads; ``backend(app, kind,
alias)`` any of them (writers fan out to the route's write aliases). Instances live per thread
(``asgiref`` Local), so clients that are not thread-safe never cross threads, and adapters keep
their clients fork-safe (they reconnect in a new process). ``close_all()`` runs when a request
finishes and when a Celery worker process starts or shuts down (wired in ``core.apps`` and
``core.celery``); ``reset()`` drops every instance (after a fork, or when the settings change).
Each instance knows its ``(app, kind, alias)`` (``store.storage_label``), which the port's
timings record (``core.storage.timings``).
"""

from __future__ import annotations

from typing import Any

from asgiref.local import Local
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from core.storage import routing
from core.storage.ports import Cache, DocumentStore, GraphStore, Store, VectorStore
from core.storage.routing import KINDS  # noqa: F401  (re-exported by core.storage)

PORTS: dict[str, type[Store]] = {
    "documents": DocumentStore,
    "vectors": VectorStore,
    "graph": GraphStore,
    "cache": Cache,
}


def storage_config(app: str, kind: str, alias: str | None = None) -> dict[str, Any]:
    """The settings of a backend of (app, kind): the app's own, else the default one; without
    ``alias`` the backend that serves when no route says otherwise."""
    return routing.backend_config(app, kind, alias)


def create_store(app: str, kind: str, alias: str | None = None) -> Store:
    """A new adapter instance for (app, kind) (and alias), checked to implement the kind's port."""
    alias = alias or routing.default_alias(app, kind)
    config = storage_config(app, kind, alias)
    backend = import_string(config.pop("BACKEND"))
    store = backend(**config)
    store.storage_label = (app, kind, alias)
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
        """The backend that serves (app, kind)'s reads now (``routing.route``)."""
        return self.backend(app, kind, routing.route(app, kind).read)

    def backend(self, app: str, kind: str, alias: str) -> Store:
        """This thread's instance of one backend of (app, kind)."""
        stores: dict[tuple[str, str, str], Store] | None = getattr(self._local, "stores", None)
        if stores is None:
            stores = self._local.stores = {}
        store = stores.get((app, kind, alias))
        if store is None:
            store = stores[(app, kind, alias)] = create_store(app, kind, alias)
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
