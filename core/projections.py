"""Projections: what the stores hold is written from the rows by idempotent handlers.

A service writes its rows and an outbox event in one transaction. A projection is a function
``apply(event, store)`` registered for an event type and one (app, kind) of store; it reads the
rows the event names and writes their current state (or their absence) to ``store``, so running
it twice, late, or after a newer event changes nothing more. It is delivered to every backend
the (app, kind)'s route writes to (``core.storage.routing``), once per backend in effect:

* **Inline**, when the backend shares the database transaction
  (``features.joins_db_transaction``, every adapter on Django's ``default`` database) and serves
  the route's reads: ``core.outbox.publish`` runs it right away, inside the service's
  transaction, and records its delivery (``OutboxDelivery`` ``<name>@<alias>``) there. One
  transaction still covers all four models, and a failure rolls all of it back.
* **From the outbox**, for every other backend (a dedicated store, or any backend while the
  reads are served by a dedicated one): the relay runs the projection after the commit, outside
  any transaction, the read backend first; ``StoreUnavailable`` and any other error make the
  event retry with backoff (dead letter after ``STRATA_OUTBOX_MAX_ATTEMPTS``). A backend that
  joins the database transaction is written in a short transaction with its delivery row.

Route changes: writers read the route with ``routing.write_route`` (a shared lock that
``routing.set_route`` takes exclusively), and a delivery ends by checking, under that lock,
that every backend the route writes to now has its delivery row; a backend added meanwhile
(``storage_move`` starting dual writes) is written before the event counts as delivered. So a
backfill that starts after the route changed cannot miss an event's write: either the event
reached the old backend before the change (the backfill copies it), or it reaches the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from core import outbox
from core.models import OutboxDelivery, OutboxEvent
from core.storage import routing, storages
from core.storage.ports import Store

logger = logging.getLogger(__name__)

Apply = Callable[[OutboxEvent, Store], None]

#: how many times a delivery follows a route that changed under it before giving up (a retry)
MAX_ROUTE_ROUNDS = 5


@dataclass(frozen=True)
class Projection:
    name: str
    event_type: str
    app: str
    kind: str
    apply: Apply

    def delivery_name(self, alias: str) -> str:
        return f"{self.name}@{alias}"


_projections: dict[str, dict[str, Projection]] = {}


def projection(event_type: str, *, name: str, app: str, kind: str) -> Callable[[Apply], Apply]:
    """Decorator: ``apply(event, store)`` projects ``event_type`` events into (app, kind)'s stores."""

    def decorator(fn: Apply) -> Apply:
        spec = Projection(name=name, event_type=event_type, app=app, kind=kind, apply=fn)
        _projections.setdefault(event_type, {})[name] = spec

        def deliver_projection(event: OutboxEvent) -> None:
            deliver(spec, event)

        deliver_projection.__qualname__ = f"deliver[{name}]"
        deliver_projection.__module__ = fn.__module__
        outbox.register(event_type, name=name, transactional=False)(deliver_projection)
        return fn

    return decorator


def projections_for(event_type: str) -> list[Projection]:
    return list(_projections.get(event_type, {}).values())


def _joins(spec: Projection, alias: str) -> bool:
    return storages.backend(spec.app, spec.kind, alias).features.joins_db_transaction


def _delivered(event: OutboxEvent, spec: Projection) -> set[str]:
    prefix = f"{spec.name}@"
    names = OutboxDelivery.objects.filter(event=event, handler__startswith=prefix).values_list("handler", flat=True)
    return {name[len(prefix) :] for name in names}


def _apply_in_transaction(spec: Projection, event: OutboxEvent, alias: str) -> None:
    """Project into a backend that shares the transaction, with its delivery row."""
    with transaction.atomic():
        OutboxDelivery.objects.create(event=event, handler=spec.delivery_name(alias))
        spec.apply(event, storages.backend(spec.app, spec.kind, alias))


def run_inline(event: OutboxEvent) -> None:
    """Run the event's projections whose backends share the caller's transaction (and serve
    reads): called by ``core.outbox.publish`` inside the service's transaction."""
    specs = projections_for(event.event_type)
    if not specs:
        return
    delivered: list[OutboxDelivery] = []
    with transaction.atomic():  # one savepoint inside the service's transaction
        for spec in specs:
            route = routing.write_route(spec.app, spec.kind)
            if not _joins(spec, route.read):
                continue  # the relay writes the read backend first, then the others
            for alias in route.ordered_writes():
                if _joins(spec, alias):
                    spec.apply(event, storages.backend(spec.app, spec.kind, alias))
                    delivered.append(OutboxDelivery(event=event, handler=spec.delivery_name(alias)))
        OutboxDelivery.objects.bulk_create(delivered)


def deliver(spec: Projection, event: OutboxEvent) -> None:
    """Project the event into every backend the route writes to that has not had it yet (the
    read backend first), then check under the route's lock that none was added meanwhile."""
    for _ in range(MAX_ROUTE_ROUNDS):
        with transaction.atomic():
            route = routing.write_route(spec.app, spec.kind)
            pending = [alias for alias in route.ordered_writes() if alias not in _delivered(event, spec)]
        if not pending:
            return
        for alias in pending:
            if _joins(spec, alias):
                _apply_in_transaction(spec, event, alias)
            else:
                spec.apply(event, storages.backend(spec.app, spec.kind, alias))
                OutboxDelivery.objects.get_or_create(event=event, handler=spec.delivery_name(alias))
    raise RuntimeError(f"projection {spec.name}: the route of ({spec.app}, {spec.kind}) kept changing; retrying")
