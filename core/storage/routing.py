"""Which backend serves (app, kind): the backends settings make available, by alias, and the
route (a database row) that says which of them serves reads and which receive writes.

``STRATA_STORAGE[app][kind]`` (falling back to ``STRATA_STORAGE["default"][kind]``) is either one
backend, ``{"BACKEND": "dotted.Class", **options}`` (its alias is ``"default"``), or several by
alias with the one that serves until a route says otherwise::

    "vectors": {
        "DEFAULT": "postgres",
        "postgres": {"BACKEND": "core.storage.postgres.vectors.PostgresVectorStore"},
        "qdrant": {"BACKEND": "core.storage.qdrant.QdrantVectorStore", "url": "http://qdrant:6333"},
    }

Without a ``StorageRoute`` row, ``DEFAULT`` serves reads and writes. ``manage.py storage_move``
writes the row (dual writes, then reads switched, then the old backend dropped from the writes),
so a move needs no restart. Readers use ``route()``, cached for ``STRATA_STORAGE_ROUTE_TTL``
seconds per process; writers use ``write_route()`` inside their transaction: it takes a shared
advisory lock on (app, kind) that ``set_route`` takes exclusively, so a route change waits for
the writers that read the old route, and every writer that starts after it sees the new one
(``core.projections`` relies on this: a backfill that starts after dual writes began misses no
write).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from core.locks import advisory_xact_lock

KINDS = ("documents", "vectors", "graph", "cache")
SINGLE_ALIAS = "default"
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,49}")


@dataclass(frozen=True)
class Route:
    """Where (app, kind) reads and writes: ``writes`` lists the read alias first when it writes."""

    read: str
    writes: tuple[str, ...]
    version: int = 0  # 0: from the settings (no route row)

    def ordered_writes(self) -> list[str]:
        """The write aliases, the read alias first (projections write to it before the others)."""
        return sorted(self.writes, key=lambda alias: alias != self.read)


# ---------------------------------------------------------------- backends from the settings


def _entry(app: str, kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ImproperlyConfigured(f"unknown storage kind {kind!r}; expected one of {KINDS}")
    storage = settings.STRATA_STORAGE
    entry = storage.get(app, {}).get(kind) or storage.get("default", {}).get(kind)
    if not entry:
        raise ImproperlyConfigured(f"STRATA_STORAGE has no {kind!r} backend for app {app!r} nor a default")
    return entry


def backends(app: str, kind: str) -> dict[str, dict[str, Any]]:
    """The backends available to (app, kind): alias -> ``{"BACKEND": ..., **options}``."""
    entry = _entry(app, kind)
    if "BACKEND" in entry:
        return {SINGLE_ALIAS: dict(entry)}
    found = {alias: dict(config) for alias, config in entry.items() if alias != "DEFAULT"}
    for alias, config in found.items():
        if not _ALIAS.fullmatch(alias) or not isinstance(config, dict) or "BACKEND" not in config:
            raise ImproperlyConfigured(
                f'STRATA_STORAGE[{app!r}][{kind!r}][{alias!r}]: expected a lowercase alias naming {{"BACKEND": ...}}'
            )
    if not found:
        raise ImproperlyConfigured(f"STRATA_STORAGE has no {kind!r} backend for app {app!r}")
    return found


def default_alias(app: str, kind: str) -> str:
    """The alias that serves (app, kind) when no route row exists."""
    entry = _entry(app, kind)
    if "BACKEND" in entry:
        return SINGLE_ALIAS
    alias = entry.get("DEFAULT")
    if alias is None and len(entry) == 1:
        alias = next(iter(entry))
    if alias not in backends(app, kind):
        raise ImproperlyConfigured(f"STRATA_STORAGE[{app!r}][{kind!r}]['DEFAULT'] = {alias!r} names no backend")
    return alias


def backend_config(app: str, kind: str, alias: str | None = None) -> dict[str, Any]:
    """The settings of one backend of (app, kind) (default: the alias serving without a route)."""
    alias = alias or default_alias(app, kind)
    available = backends(app, kind)
    if alias not in available:
        raise ImproperlyConfigured(
            f"no {kind!r} backend {alias!r} for app {app!r}; STRATA_STORAGE offers {sorted(available)}"
        )
    return available[alias]


# ---------------------------------------------------------------- the route


_cache: dict[tuple[str, str], tuple[float, Route]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the cached routes of this process (tests; ``set_route`` does it for its own)."""
    with _cache_lock:
        _cache.clear()


def _default_route(app: str, kind: str) -> Route:
    alias = default_alias(app, kind)
    return Route(read=alias, writes=(alias,))


def _load(app: str, kind: str) -> Route:
    from core.models import StorageRoute

    row = StorageRoute.objects.filter(app=app, kind=kind).values_list("read_alias", "write_aliases", "version").first()
    if row is None:
        return _default_route(app, kind)
    read, writes, version = row
    available = backends(app, kind)
    for alias in {read, *writes}:
        if alias not in available:
            raise ImproperlyConfigured(
                f"the storage route of ({app!r}, {kind!r}) names backend {alias!r}, which STRATA_STORAGE "
                f"does not offer (it offers {sorted(available)}); add it back or change the route"
            )
    return Route(read=read, writes=tuple(writes), version=version)


def route(app: str, kind: str) -> Route:
    """The route readers follow (cached per process for ``STRATA_STORAGE_ROUTE_TTL`` seconds).

    A kind with a single backend has nothing to route and never reads the database."""
    if len(backends(app, kind)) == 1:
        return _default_route(app, kind)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get((app, kind))
    if cached is not None and cached[0] > now:
        return cached[1]
    found = _load(app, kind)
    with _cache_lock:
        _cache[(app, kind)] = (now + float(settings.STRATA_STORAGE_ROUTE_TTL), found)
    return found


def route_lock_name(app: str, kind: str) -> str:
    return f"strata.storage.route:{app}.{kind}"


#: routes a service read under their locks for the rest of its transaction (``routes_held``)
_held: ContextVar[dict[tuple[str, str], Route] | None] = ContextVar("strata_routes_held", default=None)

_LOCK_AND_LOAD = (
    "SELECT pg_advisory_xact_lock_shared(hashtext(%s))::text, r.read_alias, r.write_aliases::text, r.version "
    "FROM (SELECT 1) AS one LEFT JOIN core_storageroute r ON r.app = %s AND r.kind = %s"
)


def _lock_and_load(app: str, kind: str) -> Route:
    """Take the route's shared lock and read its row, in one round trip."""
    import json

    with connection.cursor() as cursor:
        cursor.execute(_LOCK_AND_LOAD, [route_lock_name(app, kind), app, kind])
        _, read, writes, version = cursor.fetchone()
    if read is None:
        return _default_route(app, kind)
    available = backends(app, kind)
    writes = tuple(json.loads(writes))
    for alias in {read, *writes}:
        if alias not in available:
            raise ImproperlyConfigured(
                f"the storage route of ({app!r}, {kind!r}) names backend {alias!r}, which STRATA_STORAGE "
                f"does not offer (it offers {sorted(available)}); add it back or change the route"
            )
    return Route(read=read, writes=writes, version=version)


def write_route(app: str, kind: str) -> Route:
    """The route writers follow, read fresh under a shared lock held until the caller's
    transaction ends (call it inside ``transaction.atomic``): ``set_route`` waits for it.
    Inside ``routes_held`` the route read there is reused (its lock is still held)."""
    if len(backends(app, kind)) == 1:
        return _default_route(app, kind)
    held = _held.get()
    if held is not None and (app, kind) in held:
        return held[(app, kind)]
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("write_route() must run inside transaction.atomic()")
    found = _lock_and_load(app, kind)
    with _cache_lock:
        _cache[(app, kind)] = (time.monotonic() + float(settings.STRATA_STORAGE_ROUTE_TTL), found)
    return found


@contextmanager
def routes_held(app: str, kinds: Sequence[str]) -> Iterator[dict[str, Route]]:
    """Inside a transaction: read (app, kind)'s routes under their shared locks, in the order
    given, and let every ``write_route`` of them until the block ends reuse what was read (the
    locks are held until the transaction ends, so the routes cannot change meanwhile). A
    service's one read per kind instead of one per projection."""
    routes = {kind: write_route(app, kind) for kind in kinds}
    token = _held.set({**(_held.get() or {}), **{(app, kind): route for kind, route in routes.items()}})
    try:
        yield routes
    finally:
        _held.reset(token)


def hold_route(app: str, kind: str) -> None:
    """Wait for every writer of (app, kind) to commit and keep new ones out until the caller's
    transaction ends (the exclusive side of ``write_route``'s lock): a move's reconciliation
    looks at both backends under it, when no write can be half-way between them."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_route() must run inside transaction.atomic()")
    advisory_xact_lock(route_lock_name(app, kind))


def set_route(app: str, kind: str, *, read: str, writes: list[str] | tuple[str, ...]) -> Route:
    """Route (app, kind): ``read`` serves reads, ``writes`` receive writes. Waits for the writers
    that follow the current route to commit. Returns the new route."""
    from core.models import StorageRoute

    available = backends(app, kind)
    writes = tuple(dict.fromkeys(writes))
    for alias in {read, *writes}:
        if alias not in available:
            raise ImproperlyConfigured(f"no {kind!r} backend {alias!r} for app {app!r}; offered: {sorted(available)}")
    if not writes:
        raise ValueError("a route needs at least one write backend")
    with transaction.atomic():
        advisory_xact_lock(route_lock_name(app, kind))
        row, created = StorageRoute.objects.select_for_update().get_or_create(
            app=app, kind=kind, defaults={"read_alias": read, "write_aliases": list(writes), "version": 1}
        )
        if not created:
            row.read_alias, row.write_aliases, row.version = read, list(writes), row.version + 1
            row.save(update_fields=["read_alias", "write_aliases", "version", "updated_at"])
        new = Route(read=read, writes=writes, version=row.version)
    clear_cache()
    return new


def is_routed(app: str, kind: str) -> bool:
    """Whether a route row exists for (app, kind)."""
    from core.models import StorageRoute

    return StorageRoute.objects.filter(app=app, kind=kind).exists()
