"""The outbox relay: claims due events and runs their handlers (``core.outbox`` registers them).

``relay()`` is what the Celery task ``core.tasks.outbox_relay`` runs:

* Due events (``pending`` and ``available_at <= now``) are claimed by priority, then by due time
  (``STRATA_OUTBOX_PRIORITIES``: an ingest's embedding before the thousands of graph updates
  extraction and graph_import emit, which had made new documents wait minutes for their
  vectors; a deferred or retried event still waits for its time), except that an event due for
  longer than ``STRATA_OUTBOX_PRIORITY_AGING`` seconds goes first whatever its priority, oldest
  first (aging: a constant stream of ingests cannot starve the graph and fact updates). Each is claimed in its own short
  transaction with ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a session-level advisory lock on
  the event, held until the relay is done with it: any number of relays (worker processes,
  beat, a manual call) run side by side without ever running the same event at once, even
  while a long handler runs outside any transaction. The claim counts the attempt and commits
  before the handlers run, so an attempt whose process dies still counts; the dead process's
  connection takes its advisory lock with it.
* Handlers registered with ``transactional=False`` (``core.outbox.register``) run first,
  outside any transaction: they commit their own work in short transactions and must be
  idempotent (a process killed after their work but before their delivery row runs them again).
  Their delivery row is written when they return.
* Every other handler that has no ``OutboxDelivery`` row for the event yet runs inside a
  savepoint together with the insert of its delivery row, in one transaction that holds the
  event's row lock: its database effects and the record that it ran commit together or not at
  all (exactly once in effect for database work).
* A failing handler does not stop the others. The event is retried later with exponential
  backoff and becomes a dead letter after ``STRATA_OUTBOX_MAX_ATTEMPTS`` failed attempts.
* A handler that raises ``core.outbox.Deferred`` has not failed: unless another handler failed,
  the event is put back for the longest delay asked, with the claim's attempt given back.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.locks import advisory_session_unlock, try_advisory_session_lock
from core.models import OutboxDelivery, OutboxEvent

logger = logging.getLogger("core.outbox")

#: due events looked at per claim (those another relay is running are skipped)
CLAIM_WINDOW = 20


@dataclass(frozen=True)
class RelayResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0

    @property
    def processed(self) -> int:
        return self.delivered + self.retried + self.dead + self.deferred

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(
            delivered=self.delivered + other.delivered,
            retried=self.retried + other.retried,
            dead=self.dead + other.dead,
            deferred=self.deferred + other.deferred,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def relay(*, batch_size: int | None = None) -> RelayResult:
    """Deliver up to ``batch_size`` due events (default ``STRATA_OUTBOX_BATCH_SIZE``).

    Each event is claimed and handled in its own transactions (see the module docstring), so
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
        logger.info(
            "outbox relay: %d delivered, %d retried, %d dead, %d deferred",
            result.delivered,
            result.retried,
            result.dead,
            result.deferred,
        )
    return result


def _lock_name(event: OutboxEvent) -> str:
    return f"strata.outbox.event:{event.pk}"


@dataclass(frozen=True)
class _Claim:
    event_id: object
    attempts: int
    previous_error: str
    lock: str


def _claim() -> _Claim | RelayResult | None:
    """Claim one due event (count the attempt, hold its advisory lock); ``None`` when no event
    is due (or every due one is running elsewhere), a RelayResult when it was buried.

    The claim counts the attempt and commits before any handler runs, with ``available_at``
    moved to when a retry would be due: if the process dies while the handlers run (killed, out
    of memory, a handler that crashes the interpreter), the attempt stays counted and the event
    comes back after its backoff, and ends as a dead letter after ``STRATA_OUTBOX_MAX_ATTEMPTS``
    like any failing event (counting in the same transaction as the handlers lost the count with
    every crash: a poison event was retried forever)."""
    now = timezone.now()
    buried: RelayResult | None = None
    with transaction.atomic():
        for event in _candidates(now):
            lock = _lock_name(event)
            if not try_advisory_session_lock(lock):
                continue  # another relay runs its handlers right now
            if event.attempts >= int(settings.STRATA_OUTBOX_MAX_ATTEMPTS):
                # Only an attempt that never finished leaves an event pending at the limit.
                buried = _bury(event)
                break
            previous_error = event.last_error
            event.attempts += 1
            event.available_at = now + timedelta(seconds=outbox.backoff_delay(event.attempts))
            event.last_error = (
                f"attempt {event.attempts} started at {now.isoformat()} and did not finish: the process "
                f"running it died (killed, out of memory or crashed)\n\n{previous_error}"
            )[: outbox.MAX_ERROR_CHARS]
            event.save(update_fields=["attempts", "available_at", "last_error"])
            return _Claim(event.pk, event.attempts, previous_error, lock)
    if buried is not None:
        advisory_session_unlock(lock)
    return buried


def _candidates(now: datetime) -> Iterator[OutboxEvent]:
    """Due events in claim order, row-locked (those other relays hold are skipped).

    First the events due for longer than ``STRATA_OUTBOX_PRIORITY_AGING`` seconds, oldest first
    whatever their priority (aging: a steady stream of higher-priority events cannot starve the
    rest), then every due event by priority and due time. Two short queries rather than one
    ``ORDER BY`` on an aged-or-priority expression: that expression depends on the clock, so no
    index can hold it, and the claim would sort every pending event; the aged query reads the
    partial index on ``available_at`` and stops at the first event that is not aged, the second
    the partial index on ``(priority, available_at)``. The second runs only when the first
    yielded nothing the caller could claim."""
    pending = OutboxEvent.objects.select_for_update(skip_locked=True).filter(status=OutboxEvent.Status.PENDING)
    aging = float(settings.STRATA_OUTBOX_PRIORITY_AGING)
    if aging > 0:
        aged = pending.filter(available_at__lte=now - timedelta(seconds=aging))
        yield from aged.order_by("available_at", "created_at")[:CLAIM_WINDOW]
    yield from pending.filter(available_at__lte=now).order_by("priority", "available_at", "created_at")[:CLAIM_WINDOW]


def _relay_one() -> RelayResult | None:
    """Claim one due event and run its handlers; ``None`` when no event is due."""
    claimed = _claim()
    if not isinstance(claimed, _Claim):
        return claimed
    try:
        event = OutboxEvent.objects.get(pk=claimed.event_id)
        event.attempts = claimed.attempts - 1  # what handlers see: the attempts that failed before
        event.last_error = claimed.previous_error
        deferrals: list[outbox.Deferred] = []
        errors = _run_outside_transaction(event, deferrals)
        with transaction.atomic():
            locked = (
                OutboxEvent.objects.select_for_update()
                .filter(pk=event.pk, status=OutboxEvent.Status.PENDING, attempts=claimed.attempts)
                .first()
            )
            if locked is None:  # replayed meanwhile: that replay owns it now
                return RelayResult()
            locked.attempts = claimed.attempts - 1
            locked.last_error = claimed.previous_error
            errors += _run_in_transaction(locked, deferrals)
            return _settle(locked, errors, deferrals)
    finally:
        advisory_session_unlock(claimed.lock)


def _pending_handlers(event: OutboxEvent, *, transactional: bool) -> list[tuple[str, outbox.Handler]]:
    done = set(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True))
    return [
        (name, handler)
        for name, handler in outbox.handlers_for(event.event_type)
        if name not in done and outbox.runs_in_transaction(event.event_type, name) == transactional
    ]


def _failure(event: OutboxEvent, name: str, exc: Exception) -> str:
    logger.warning(
        "outbox: handler %s failed on %s event %s (attempt %d): %s",
        name,
        event.event_type,
        event.id,
        event.attempts + 1,
        exc,
        exc_info=True,
    )
    return f"{name}: {''.join(traceback.format_exception(exc)).strip()}"


def _deferral(event: OutboxEvent, name: str, deferral: outbox.Deferred) -> outbox.Deferred:
    logger.info(
        "outbox: handler %s deferred %s event %s by %.0f s: %s",
        name,
        event.event_type,
        event.id,
        deferral.delay,
        deferral,
    )
    return deferral


def _run_outside_transaction(event: OutboxEvent, deferrals: list[outbox.Deferred]) -> list[str]:
    """The ``transactional=False`` handlers: each commits its own work; its delivery row is
    written once it returns."""
    errors: list[str] = []
    for name, handler in _pending_handlers(event, transactional=False):
        try:
            handler(event)
            OutboxDelivery.objects.get_or_create(event=event, handler=name)
        except outbox.Deferred as deferral:
            deferrals.append(_deferral(event, name, deferral))
        except Exception as exc:
            errors.append(_failure(event, name, exc))
        else:
            logger.info("outbox: handler %s delivered %s event %s", name, event.event_type, event.id)
    return errors


def _run_in_transaction(event: OutboxEvent, deferrals: list[outbox.Deferred]) -> list[str]:
    if not outbox.handlers_for(event.event_type):
        logger.warning("outbox: no handler for event type %r; event %s marked delivered", event.event_type, event.id)
        return []
    errors: list[str] = []
    for name, handler in _pending_handlers(event, transactional=True):
        try:
            with transaction.atomic():  # savepoint: the handler's writes and its delivery row
                # The unique (event, handler) row goes first: a second runner, however it got
                # here, fails on it before running the handler again.
                OutboxDelivery.objects.create(event=event, handler=name)
                handler(event)
        except outbox.Deferred as deferral:  # its savepoint (and delivery row) rolled back
            deferrals.append(_deferral(event, name, deferral))
        except Exception as exc:
            errors.append(_failure(event, name, exc))
        else:
            logger.info("outbox: handler %s delivered %s event %s", name, event.event_type, event.id)
    return errors


def _settle(event: OutboxEvent, errors: list[str], deferrals: list[outbox.Deferred]) -> RelayResult:
    """Record the attempt's outcome (``event.attempts`` counts the attempts before it)."""
    now = timezone.now()
    if deferrals and not errors:  # not an attempt: back when the longest wait asked is over
        event.available_at = now + timedelta(seconds=max(deferral.delay for deferral in deferrals))
        reasons = "; ".join(dict.fromkeys(str(deferral) for deferral in deferrals))
        event.last_error = f"deferred (not a failure) until {event.available_at.isoformat()}: {reasons}"[
            : outbox.MAX_ERROR_CHARS
        ]
        event.save(update_fields=["available_at", "attempts", "last_error"])
        return RelayResult(deferred=1)
    if not errors:
        event.status = OutboxEvent.Status.DELIVERED
        event.delivered_at = event.available_at = now  # (the claim had set the time of a retry)
        event.save(update_fields=["status", "delivered_at", "available_at", "attempts", "last_error"])
        return RelayResult(delivered=1)

    event.attempts += 1
    event.last_error = "\n\n".join(errors)[: outbox.MAX_ERROR_CHARS]
    max_attempts = int(settings.STRATA_OUTBOX_MAX_ATTEMPTS)
    if event.attempts >= max_attempts:
        return _bury(event)

    delay = outbox.backoff_delay(event.attempts)
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
