"""The transactional outbox: handlers, the relay that delivers events to them, and replay.

An event is written by ``publish`` (``core.services.outbox_publish``) in the caller's transaction, so it
exists if and only if the caller's writes committed. After the commit ``kick_relay`` enqueues
the Celery task ``core.tasks.outbox_relay`` (and Celery beat runs it every few seconds as a
safety net), which calls ``relay()``:

* Each due event (``pending`` and ``available_at <= now``) is claimed in its own short
  transaction with ``SELECT ... FOR UPDATE SKIP LOCKED``, so any number of relays (worker
  processes, beat, a manual call) run side by side without ever taking the same event. The
  claim counts the attempt and commits before the handlers run, so an attempt whose process
  dies still counts (see ``_relay_one``).
* Each registered handler that has no ``OutboxDelivery`` row for the event yet runs inside a
  savepoint together with the insert of its delivery row: its database effects and the record
  that it ran commit together or not at all. A handler therefore runs to completion once per
  event (exactly-once in effect for database work); effects outside the database (HTTP calls,
  e-mails) are at-least-once and must be idempotent on the event id.
* A failing handler does not stop the others. The event is retried later with exponential
  backoff and becomes a dead letter after ``STRATA_OUTBOX_MAX_ATTEMPTS`` failed attempts;
  ``replay()`` (``manage.py outbox_replay``) puts it back.

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
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
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

_HANDLER_NAME_MAX = OutboxDelivery._meta.get_field("handler").max_length
_EVENT_TYPE_MAX = OutboxEvent._meta.get_field("event_type").max_length

# event type -> {handler name -> handler}, in registration order
_registry: dict[str, dict[str, Handler]] = {}


# ---------------------------------------------------------------- handlers


def register(event_type: str, name: str | None = None) -> Callable[[Handler], Handler]:
    """Decorator: run ``fn(event)`` for every delivered event of ``event_type``.

    ``name`` (default ``module.qualname``) is what the delivery record stores, so it must stay
    stable once events have been delivered: renaming a handler makes it run again for events
    that are replayed. An event type may have several handlers.
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
        return fn

    return decorator


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def handlers_for(event_type: str) -> list[tuple[str, Handler]]:
    """The ``(name, handler)`` pairs registered for ``event_type``, in registration order."""
    return list(_registry.get(event_type, {}).items())


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


# ---------------------------------------------------------------- relay


@dataclass(frozen=True)
class RelayResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def processed(self) -> int:
        return self.delivered + self.retried + self.dead

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(
            delivered=self.delivered + other.delivered,
            retried=self.retried + other.retried,
            dead=self.dead + other.dead,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


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
    )
    transaction.on_commit(kick_relay)
    return event


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


def relay(*, batch_size: int | None = None) -> RelayResult:
    """Deliver up to ``batch_size`` due events (default ``STRATA_OUTBOX_BATCH_SIZE``).

    Each event is claimed and handled in its own transaction (see the module docstring), so
    the work done so far is kept if the process dies half-way through a batch."""
    size = int(batch_size or settings.STRATA_OUTBOX_BATCH_SIZE)
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    result = RelayResult()
    for _ in range(size):
        outcome = _relay_one()
        if outcome is None:
            break
        result += outcome
    if result.processed:
        logger.info("outbox relay: %d delivered, %d retried, %d dead", result.delivered, result.retried, result.dead)
    return result


def _relay_one() -> RelayResult | None:
    """Claim one due event and run its handlers; ``None`` when no event is due.

    Two transactions. The claim counts the attempt and commits before any handler runs, with
    ``available_at`` moved to when a retry would be due: if the process dies while the handlers
    run (killed, out of memory, a handler that crashes the interpreter), the attempt stays
    counted and the event comes back after its backoff, and ends as a dead letter after
    ``STRATA_OUTBOX_MAX_ATTEMPTS`` like any failing event. (Counting in the same transaction
    as the handlers lost the count with every crash: a poison event was retried forever.)
    The second transaction locks the event again, runs the handlers and settles it; while it
    runs, its row lock keeps other relays (``SKIP LOCKED``) off the event."""
    now = timezone.now()
    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxEvent.Status.PENDING, available_at__lte=now)
            .order_by("available_at", "created_at")
            .first()
        )
        if event is None:
            return None
        if event.attempts >= int(settings.STRATA_OUTBOX_MAX_ATTEMPTS):
            # Only an attempt that never finished leaves an event pending at the limit.
            return _bury(event)
        previous_error = event.last_error
        event.attempts += 1
        event.available_at = now + timedelta(seconds=backoff_delay(event.attempts))
        event.last_error = (
            f"attempt {event.attempts} started at {now.isoformat()} and did not finish: the process "
            f"running it died (killed, out of memory or crashed)\n\n{previous_error}"
        )[:MAX_ERROR_CHARS]
        event.save(update_fields=["attempts", "available_at", "last_error"])
        claimed = event.attempts

    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update()
            .filter(pk=event.pk, status=OutboxEvent.Status.PENDING, attempts=claimed)
            .first()
        )
        if event is None:  # replayed or claimed again meanwhile: that relay owns it now
            return RelayResult()
        event.attempts -= 1  # what handlers see: the attempts that failed before this one
        event.last_error = previous_error
        errors = _run_handlers(event)
        return _settle(event, errors)


def _run_handlers(event: OutboxEvent) -> list[str]:
    handlers = handlers_for(event.event_type)
    if not handlers:
        logger.warning("outbox: no handler for event type %r; event %s marked delivered", event.event_type, event.id)
        return []
    done = set(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True))
    errors: list[str] = []
    for name, handler in handlers:
        if name in done:
            continue
        try:
            with transaction.atomic():  # savepoint: the handler's writes and its delivery row
                # The unique (event, handler) row goes first: a second runner, however it got
                # here, fails on it before running the handler again.
                OutboxDelivery.objects.create(event=event, handler=name)
                handler(event)
        except Exception as exc:
            logger.warning(
                "outbox: handler %s failed on %s event %s (attempt %d): %s",
                name,
                event.event_type,
                event.id,
                event.attempts + 1,
                exc,
                exc_info=True,
            )
            errors.append(f"{name}: {''.join(traceback.format_exception(exc)).strip()}")
        else:
            logger.info("outbox: handler %s delivered %s event %s", name, event.event_type, event.id)
    return errors


def _settle(event: OutboxEvent, errors: list[str]) -> RelayResult:
    """Record the attempt's outcome (``event.attempts`` counts the attempts before it)."""
    now = timezone.now()
    if not errors:
        event.status = OutboxEvent.Status.DELIVERED
        event.delivered_at = event.available_at = now  # (the claim had set the time of a retry)
        event.save(update_fields=["status", "delivered_at", "available_at", "attempts", "last_error"])
        return RelayResult(delivered=1)

    event.attempts += 1
    event.last_error = "\n\n".join(errors)[:MAX_ERROR_CHARS]
    max_attempts = int(settings.STRATA_OUTBOX_MAX_ATTEMPTS)
    if event.attempts >= max_attempts:
        return _bury(event)

    delay = backoff_delay(event.attempts)
    event.available_at = now + timedelta(seconds=delay)
    event.save(update_fields=["attempts", "last_error", "available_at"])
    logger.info(
        "outbox: %s event %s failed (attempt %d of %d); retry in %.1f s",
        event.event_type,
        event.id,
        event.attempts,
        max_attempts,
        delay,
    )
    return RelayResult(retried=1)


def _bury(event: OutboxEvent) -> RelayResult:
    event.status = OutboxEvent.Status.DEAD
    event.save(update_fields=["status", "attempts", "last_error"])
    logger.error(
        "outbox: %s event %s is a dead letter after %d attempts; replay it with "
        "`manage.py outbox_replay --event %s` once fixed",
        event.event_type,
        event.id,
        event.attempts,
        event.id,
    )
    return RelayResult(dead=1)


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
