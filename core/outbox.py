"""The transactional outbox: handlers, publishing, and replay (the relay that delivers events
is ``core.outbox_relay``, reached as ``core.outbox.relay``).

An event is written by ``publish`` (``core.services.outbox_publish``) in the caller's transaction, so it
exists if and only if the caller's writes committed; ``publish`` also runs the projections of the
event whose stores share that transaction (``core.projections``). After the commit
``kick_relay`` enqueues the Celery task ``core.tasks.outbox_relay`` (and Celery beat runs it
every few seconds as a safety net), which calls ``relay()``:

* Each due event is claimed in its own short transaction (``SELECT ... FOR UPDATE SKIP
  LOCKED`` plus an advisory lock held while its handlers run), so any number of relays run side
  by side without ever running the same event at once. The claim counts the attempt and commits
  before the handlers run, so an attempt whose process dies still counts.
* Each registered handler that has no ``OutboxDelivery`` row for the event yet runs inside a
  savepoint together with the insert of its delivery row: its database effects and the record
  that it ran commit together or not at all (exactly once in effect for database work). A
  handler registered with ``transactional=False`` runs outside any transaction and commits its
  own work; it must be idempotent. Effects outside the database (HTTP calls, dedicated stores)
  are at-least-once and must be idempotent too.
* A failing handler does not stop the others. The event is retried later with exponential
  backoff and becomes a dead letter after ``STRATA_OUTBOX_MAX_ATTEMPTS`` failed attempts;
  ``replay()`` (``manage.py outbox_replay``) puts it back.
* A handler that cannot run *yet* (another process owns the work right now, e.g. a bulk load
  that will write these vectors itself) raises ``Deferred``: the event comes back after
  ``Deferred.delay`` seconds and the attempt is not counted, so waiting however long never
  turns it into a dead letter.

Handlers live in each app's ``handlers.py`` (found by ``autodiscover_handlers``) or in the
modules named by ``settings.STRATA_OUTBOX_HANDLER_MODULES``::

    from core import outbox

    @outbox.register("content.document_ingested")
    def index_document(event: OutboxEvent) -> None:
        ...
"""

from __future__ import annotations

import importlib
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import module_has_submodule

from core.audit import audit_record
from core.models import OutboxDelivery, OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]

#: Upper bound of the retry delay, whatever the attempt count.
MAX_BACKOFF_SECONDS = 6 * 3600.0
#: Relative jitter added to each retry delay (0.1 = up to +10 %).
BACKOFF_JITTER = 0.1
#: ``last_error`` keeps at most this many characters.
MAX_ERROR_CHARS = 8000
#: Seconds a ``Deferred`` event waits before it is tried again, unless the handler says otherwise.
DEFER_SECONDS = 30.0

_HANDLER_NAME_MAX = OutboxDelivery._meta.get_field("handler").max_length
_EVENT_TYPE_MAX = OutboxEvent._meta.get_field("event_type").max_length

# event type -> {handler name -> handler}, in registration order
_registry: dict[str, dict[str, Handler]] = {}
# (event type, handler name) of the handlers that run outside the relay's transaction
_outside_transaction: set[tuple[str, str]] = set()


class Deferred(Exception):  # noqa: N818 (an outcome, not an error)
    """Raised by a handler that cannot run yet, through no fault: the relay puts the event back
    for ``delay`` seconds without counting the attempt (module doc). Only for a wait that ends
    by itself (the owner of the work finishes or dies); a real failure raises anything else."""

    def __init__(self, reason: str, *, delay: float = DEFER_SECONDS) -> None:
        super().__init__(reason)
        self.delay = max(float(delay), 0.0)


# ---------------------------------------------------------------- handlers


def register(event_type: str, name: str | None = None, *, transactional: bool = True) -> Callable[[Handler], Handler]:
    """Decorator: run ``fn(event)`` for every delivered event of ``event_type``.

    ``name`` (default ``module.qualname``) is what the delivery record stores, so it must stay
    stable once events have been delivered: renaming a handler makes it run again for events
    that are replayed. An event type may have several handlers.

    ``transactional=False``: the handler runs outside any transaction and commits its own work
    (in short transactions: embedding in slices, writes to a store that is not the database);
    it must be idempotent, since a process killed after its work and before its delivery row
    runs it again.
    """
    if not event_type or len(event_type) > _EVENT_TYPE_MAX:
        raise ValueError(f"outbox event type must be 1..{_EVENT_TYPE_MAX} characters, got {event_type!r}")

    def decorator(fn: Handler) -> Handler:
        handler_name = name or f"{fn.__module__}.{fn.__qualname__}"
        if len(handler_name) > _HANDLER_NAME_MAX:
            raise ValueError(f"outbox handler name longer than {_HANDLER_NAME_MAX} characters: {handler_name!r}")
        handlers = _registry.setdefault(event_type, {})
        previous = handlers.get(handler_name)
        if previous is not None and _qualified(previous) != _qualified(fn):
            raise ImproperlyConfigured(
                f"outbox handler name {handler_name!r} for {event_type!r} is already used by {_qualified(previous)}"
            )
        handlers[handler_name] = fn  # same function registered again (module reload): replace
        if transactional:
            _outside_transaction.discard((event_type, handler_name))
        else:
            _outside_transaction.add((event_type, handler_name))
        return fn

    return decorator


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def handlers_for(event_type: str) -> list[tuple[str, Handler]]:
    """The ``(name, handler)`` pairs registered for ``event_type``, in registration order."""
    return list(_registry.get(event_type, {}).items())


def runs_in_transaction(event_type: str, name: str) -> bool:
    """Whether the handler runs inside the relay's transaction (the default)."""
    return (event_type, name) not in _outside_transaction


def registered_event_types() -> list[str]:
    return sorted(_registry)


def autodiscover_handlers() -> None:
    """Import ``<app>.handlers`` of every installed app that has one, then the modules listed
    in ``settings.STRATA_OUTBOX_HANDLER_MODULES``; importing them registers their handlers."""
    modules = [
        f"{config.name}.handlers"
        for config in apps.get_app_configs()
        if module_has_submodule(config.module, "handlers")
    ]
    for module in modules:
        importlib.import_module(module)
    for module in getattr(settings, "STRATA_OUTBOX_HANDLER_MODULES", []):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImproperlyConfigured(f"STRATA_OUTBOX_HANDLER_MODULES: cannot import {module!r}: {exc}") from exc


# ---------------------------------------------------------------- publishing


def publish(*, event_type: str, payload: dict[str, Any], workspace_id: int | None = None) -> OutboxEvent:
    """Record an event in the caller's transaction; it is delivered after commit.

    Delivery is by the Celery relay (``core.tasks.outbox_relay``): kicked once the
    transaction commits (``transaction.on_commit(kick_relay)``, one kick per event: the relay
    claims events with SKIP LOCKED, so a second kick of one commit finds nothing to do), and
    by Celery beat every few seconds as a safety net.
    """
    event = OutboxEvent.objects.create(
        event_type=event_type,
        payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
        workspace_id=workspace_id,
        available_at=timezone.now(),
        priority=priority_of(event_type),
    )
    from core import projections  # (projections registers its handlers here)

    projections.run_inline(event)
    transaction.on_commit(kick_relay)
    return event


def priority_of(event_type: str) -> int:
    """The claim priority of ``event_type``'s events (``STRATA_OUTBOX_PRIORITIES``; lower first)."""
    return int(settings.STRATA_OUTBOX_PRIORITIES.get(event_type, 0))


def kick_relay() -> None:
    """Enqueue the relay task. Call it after commit (``transaction.on_commit(kick_relay)``).

    Never raises: when the broker is unreachable the event stays pending and the beat
    schedule delivers it on its next run."""
    from core.tasks import outbox_relay

    try:
        outbox_relay.apply_async(retry=False)
    except Exception:
        logger.warning(
            "outbox: could not enqueue the relay task (broker down?); beat will deliver later", exc_info=True
        )


def backoff_delay(attempts: int) -> float:
    """Seconds to wait before the next try after ``attempts`` failed attempts (>= 1):
    ``STRATA_OUTBOX_BACKOFF_SECONDS * 2 ** (attempts - 1)``, capped, plus up to 10 % jitter."""
    base = float(settings.STRATA_OUTBOX_BACKOFF_SECONDS)
    exponent = min(max(attempts, 1) - 1, 32)  # 2**32 * base is past any cap; avoids huge floats
    delay = min(base * 2**exponent, MAX_BACKOFF_SECONDS)
    return delay * (1.0 + random.uniform(0.0, BACKOFF_JITTER))  # noqa: S311 (jitter, not crypto)


# ---------------------------------------------------------------- replay


def replay_selection(
    *,
    event_ids: Iterable[uuid.UUID | str] | None = None,
    event_type: str | None = None,
    dead_only: bool = True,
) -> QuerySet[OutboxEvent]:
    """The events ``replay`` would requeue with the same arguments (oldest first)."""
    events = OutboxEvent.objects.all()
    if event_ids is not None:
        events = events.filter(id__in=[uuid.UUID(str(event_id)) for event_id in event_ids])
    if event_type:
        events = events.filter(event_type=event_type)
    if dead_only:
        events = events.filter(status=OutboxEvent.Status.DEAD)
    return events.order_by("created_at", "id")


def replay(
    *,
    event_ids: Iterable[uuid.UUID | str] | None = None,
    event_type: str | None = None,
    dead_only: bool = True,
    actor: Any = None,
) -> int:
    """Put the selected events back to ``pending`` (attempts 0, due now) and kick the relay.

    Only dead letters unless ``dead_only=False``. Handlers that already delivered an event
    keep their delivery record and do not run again: replaying a delivered event reaches
    only handlers registered since. Returns how many events were requeued."""
    ids = None if event_ids is None else [uuid.UUID(str(event_id)) for event_id in event_ids]
    with transaction.atomic():
        selection = replay_selection(event_ids=ids, event_type=event_type, dead_only=dead_only)
        count = selection.order_by().update(
            status=OutboxEvent.Status.PENDING,
            attempts=0,
            available_at=timezone.now(),
            delivered_at=None,
        )
        if count:
            audit_record(
                actor=actor,
                action="outbox.replay",
                object_type="core.OutboxEvent",
                object_id=event_type or "*",
                changes={
                    "requeued": count,
                    "event_type": event_type,
                    "dead_only": dead_only,
                    "event_ids": None if ids is None else sorted(str(event_id) for event_id in ids)[:100],
                },
            )
            transaction.on_commit(kick_relay)
    logger.info("outbox: %d event(s) requeued (type=%s, dead_only=%s)", count, event_type or "*", dead_only)
    return count


# The relay lives in core/outbox_relay.py; ``core.outbox.relay`` stays its public name.
from core.outbox_relay import RelayResult, relay  # noqa: E402

__all__ = [
    "DEFER_SECONDS",
    "Deferred",
    "Handler",
    "RelayResult",
    "autodiscover_handlers",
    "backoff_delay",
    "handlers_for",
    "kick_relay",
    "publish",
    "register",
    "registered_event_types",
    "relay",
    "replay",
    "replay_selection",
    "runs_in_transaction",
]
