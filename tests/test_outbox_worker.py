"""The outbox delivered by a REAL Celery worker process (``celery -A core worker``) through the
real Redis broker, on the test database.

The worker runs with the test settings, on the test database (``STRATA_DB_NAME`` is the name
the test connection uses, already ``test_``-prefixed) and the test Redis database, and loads
tests/outbox_handlers.py. Tests are ``transaction=True`` so the worker sees committed rows; the
worker is stopped before pytest-django flushes the tables.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter

import pytest
from django.db import connections, transaction

from core import outbox, services
from core.models import AuditEntry, OutboxDelivery, OutboxEvent
from core.tasks import outbox_relay
from tests import outbox_handlers as h
from tests.workers import DELIVERY_TIMEOUT, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def undelivered(ids: list[uuid.UUID]) -> int:
    return OutboxEvent.objects.filter(id__in=ids).exclude(status=OutboxEvent.Status.DELIVERED).count()


def effect_counts(ids: list[uuid.UUID], action: str = h.AUDIT_ACTION) -> Counter[str]:
    counts = Counter({str(i): 0 for i in ids})
    counts.update(
        AuditEntry.objects.filter(action=action, object_id__in=counts.keys()).values_list("object_id", flat=True)
    )
    return counts


def test_worker_delivers_each_event_exactly_once_despite_repeated_kicks(start_worker):
    worker = start_worker(concurrency=2)

    with transaction.atomic():  # one commit, 12 on_commit kicks
        ids = [services.outbox_publish(event_type="test.audit", payload={"n": n, "sleep": 0.02}).id for n in range(12)]
    for _ in range(3):  # more relay tasks racing for the same events in both pool processes
        outbox.kick_relay()
        outbox_relay.delay(batch_size=2)

    wait_until(worker, lambda: undelivered(ids) == 0, "12 events to be delivered")
    counts = effect_counts(ids)
    assert set(counts.values()) == {1}, counts
    pids = set(AuditEntry.objects.filter(action=h.AUDIT_ACTION).values_list("changes__pid", flat=True))
    assert os.getpid() not in pids  # delivered by the worker's processes, not by this test
    assert "outbox: handler tests.outbox_handlers.record_audit delivered" in worker.log.read_text(errors="replace")


def test_worker_and_an_in_process_relay_racing_deliver_each_event_once(start_worker):
    worker = start_worker(concurrency=2)
    with transaction.atomic():
        ids = [services.outbox_publish(event_type="test.audit", payload={"n": n, "sleep": 0.01}).id for n in range(30)]

    local: list[outbox.RelayResult] = []
    errors: list[BaseException] = []

    def relay_here() -> None:
        try:
            total = outbox.RelayResult()
            for _ in range(200):
                total += outbox.relay(batch_size=2)
                if not undelivered(ids):
                    break
            local.append(total)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=relay_here)
    thread.start()
    for _ in range(4):
        outbox_relay.delay(batch_size=3)
    thread.join(timeout=DELIVERY_TIMEOUT)
    assert not errors
    wait_until(worker, lambda: undelivered(ids) == 0, "30 events to be delivered")
    counts = effect_counts(ids)
    assert set(counts.values()) == {1}, counts
    assert len(local) == 1
    assert OutboxDelivery.objects.filter(event_id__in=ids).count() == 30


def test_beat_retries_a_failing_handler_until_it_succeeds(start_worker):
    worker = start_worker(
        beat=True,
        concurrency=1,
        env={
            "STRATA_OUTBOX_RELAY_INTERVAL": "0.5",
            "STRATA_OUTBOX_BACKOFF_SECONDS": "0.2",
            "STRATA_OUTBOX_MAX_ATTEMPTS": "5",
        },
    )
    with transaction.atomic():  # kicked once on commit; the retries come from beat alone
        event = services.outbox_publish(event_type="test.flaky", payload={"fail_times": 2})

    wait_until(worker, lambda: undelivered([event.id]) == 0, "the flaky event to be delivered")
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert stored.attempts == 2
    assert "planned failure 2 of 2" in stored.last_error
    assert effect_counts([event.id], h.AUDIT_ACTION)[str(event.id)] == 1
    flaky_runs = AuditEntry.objects.filter(action=h.FLAKY_ACTION, object_id=str(event.id))
    assert [e.changes["attempts"] for e in flaky_runs] == [2]  # the failed runs' writes rolled back


def test_an_event_whose_handler_kills_the_worker_ends_as_a_dead_letter(start_worker):
    """Issue 6, defect 7: each claim counts an attempt, so a poison event that SIGKILLs the
    worker's pool process on every run becomes a dead letter instead of being retried forever."""
    worker = start_worker(
        beat=True,
        concurrency=1,
        env={
            "STRATA_OUTBOX_RELAY_INTERVAL": "0.5",
            "STRATA_OUTBOX_BACKOFF_SECONDS": "0.2",
            "STRATA_OUTBOX_MAX_ATTEMPTS": "3",
        },
    )
    with transaction.atomic():
        poison = services.outbox_publish(event_type="test.poison", payload={"kill": True})
        healthy = services.outbox_publish(event_type="test.audit", payload={})

    def dead() -> bool:
        return OutboxEvent.objects.filter(pk=poison.pk, status=OutboxEvent.Status.DEAD).exists()

    wait_until(worker, dead, "the poison event to become a dead letter")
    stored = OutboxEvent.objects.get(pk=poison.pk)
    assert stored.attempts == 3 and "did not finish" in stored.last_error
    assert effect_counts([poison.id], h.POISON_ACTION)[str(poison.id)] == 0
    wait_until(worker, lambda: undelivered([healthy.id]) == 0, "the healthy event to be delivered")
    assert effect_counts([healthy.id])[str(healthy.id)] == 1
    assert worker.process.poll() is None  # the worker itself survived its pool processes' deaths
