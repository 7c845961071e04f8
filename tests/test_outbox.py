"""The transactional outbox, in process: publish, relay, retry/backoff, dead letters, replay,
concurrent relays, the relay task and the outbox_replay command.

Handlers come from tests/outbox_handlers.py; each leaves an AuditEntry per run, so "ran once"
is a count of real rows."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from celery import Celery
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from core import outbox, services, tasks
from core.celery import app as celery_app
from core.models import AuditEntry, OutboxDelivery, OutboxEvent, Workspace
from tests import outbox_handlers as h

RELAY_TASK = "core.tasks.outbox_relay"


def publish(event_type: str = "test.audit", **payload) -> OutboxEvent:
    return services.outbox_publish(event_type=event_type, payload=payload)


def effects(event: OutboxEvent, action: str = h.AUDIT_ACTION) -> int:
    return AuditEntry.objects.filter(action=action, object_id=str(event.id)).count()


def make_due(event: OutboxEvent) -> None:
    """Let the backoff delay pass."""
    OutboxEvent.objects.filter(pk=event.pk).update(available_at=timezone.now())


def refreshed(event: OutboxEvent) -> OutboxEvent:
    return OutboxEvent.objects.get(pk=event.pk)


def queued_relay_tasks() -> int:
    """Relay task messages waiting in the broker's default queue (Redis list "celery")."""
    redis = get_redis_connection("default")
    return sum(json.loads(raw)["headers"]["task"] == RELAY_TASK for raw in redis.lrange("celery", 0, -1))


# ---------------------------------------------------------------- publishing


@pytest.mark.django_db
def test_event_is_recorded_in_the_callers_transaction(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.workspace_create(name="Doomed", owner=user)
            publish(note="rolled back")
            raise RuntimeError("the caller fails after publishing")
    assert not OutboxEvent.objects.exists()
    assert not Workspace.objects.filter(name="Doomed").exists()
    assert callbacks == []  # no relay kick for a transaction that did not commit

    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            workspace = services.workspace_create(name="Kept", owner=user)
            event = services.outbox_publish(
                event_type="test.audit", payload={"when": timezone.now()}, workspace_id=workspace.pk
            )
    stored = refreshed(event)
    assert stored.status == OutboxEvent.Status.PENDING
    assert stored.workspace_id == workspace.pk
    assert isinstance(stored.payload["when"], str)  # serialised with DjangoJSONEncoder
    assert callbacks == [outbox.kick_relay]


@pytest.mark.django_db(transaction=True)
def test_relay_is_kicked_through_the_broker_only_after_commit():
    before = queued_relay_tasks()
    with transaction.atomic():
        event = publish()
        assert queued_relay_tasks() == before  # nothing enqueued inside the open transaction
    assert queued_relay_tasks() == before + 1
    assert refreshed(event).status == OutboxEvent.Status.PENDING  # no worker here: still waiting


@pytest.mark.django_db(transaction=True)
def test_uncommitted_event_is_invisible_to_other_connections():
    seen: list[object] = []

    def look() -> None:
        try:
            seen.append(OutboxEvent.objects.filter(event_type="test.audit").exists())
            seen.append(outbox.relay())
        finally:
            connections.close_all()

    with transaction.atomic():
        event = publish()
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    assert seen == [False, outbox.RelayResult()]  # neither a query nor a relay saw it before commit
    assert outbox.relay().delivered == 1
    assert effects(event) == 1


@pytest.mark.django_db
def test_kick_relay_never_raises_when_the_broker_is_down(caplog):
    unreachable = Celery("strata-broker-down", broker="redis://127.0.0.1:1/0", set_as_current=True)
    try:
        with caplog.at_level("WARNING", logger="core.outbox"):
            outbox.kick_relay()
    finally:
        celery_app.set_current()
        unreachable.close()
    assert "could not enqueue the relay task" in caplog.text


# ---------------------------------------------------------------- relay


@pytest.mark.django_db
def test_relay_delivers_and_the_handler_effect_commits_with_its_delivery_record():
    event = publish()
    result = outbox.relay()
    assert result == outbox.RelayResult(delivered=1)
    stored = refreshed(event)
    assert stored.status == OutboxEvent.Status.DELIVERED
    assert stored.delivered_at is not None
    assert stored.attempts == 0
    assert effects(event) == 1
    assert list(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True)) == [
        "tests.outbox_handlers.record_audit"
    ]


@pytest.mark.django_db
def test_handlers_run_once_even_when_the_relay_runs_again():
    event = publish()
    assert outbox.relay().delivered == 1
    assert outbox.relay() == outbox.RelayResult()
    # Even when the event is made pending again, the delivery record stops a second run.
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.PENDING)
    assert outbox.relay().delivered == 1
    assert effects(event) == 1
    assert OutboxDelivery.objects.filter(event=event).count() == 1


@pytest.mark.django_db
def test_relay_honours_the_batch_size_and_delivers_oldest_first():
    events = [publish(n=n) for n in range(5)]
    assert outbox.relay(batch_size=2).delivered == 2
    delivered = set(OutboxEvent.objects.filter(status="delivered").values_list("id", flat=True))
    assert delivered == {events[0].id, events[1].id}
    assert outbox.relay(batch_size=10).delivered == 3
    with pytest.raises(ValueError):
        outbox.relay(batch_size=-1)


@pytest.mark.django_db
def test_a_higher_priority_event_is_claimed_before_an_older_backlog(settings):
    """The trial's bulk ingest: 3,235 graph-update events were relayed ahead of the documents'
    embedding events, which the documents waited for. STRATA_OUTBOX_PRIORITIES orders the claim."""
    settings.STRATA_OUTBOX_PRIORITIES = {"test.audit": -10}
    backlog = [publish("test.flaky", fail_times=0, n=n) for n in range(25)]  # more than one claim window
    urgent = publish(n="urgent")
    assert (urgent.priority, backlog[0].priority) == (-10, 0)
    assert outbox.relay(batch_size=1).delivered == 1
    assert refreshed(urgent).status == "delivered" and refreshed(backlog[0]).status == "pending"
    # a prioritised event that is not due yet (deferred, backing off) does not hold the rest up
    later = publish(n="later")
    OutboxEvent.objects.filter(pk=later.pk).update(available_at=timezone.now() + timedelta(minutes=5))
    assert outbox.relay(batch_size=2).delivered == 2
    assert refreshed(backlog[0]).status == "delivered" and refreshed(later).status == "pending"


@pytest.mark.django_db
def test_a_low_priority_event_is_claimed_within_the_aging_bound_while_urgent_ones_keep_arriving(settings):
    """A constant stream of prioritised events (a long bulk ingest's embedding events) starved
    every other event: with STRATA_OUTBOX_PRIORITY_AGING, one due for longer than that goes first."""
    settings.STRATA_OUTBOX_PRIORITIES = {"test.audit": -10}
    settings.STRATA_OUTBOX_PRIORITY_AGING = 1.0
    low = publish("test.flaky", fail_times=0, n="low")
    deadline = timezone.now() + timedelta(seconds=5)
    rounds = 0
    while refreshed(low).status == "pending" and timezone.now() < deadline:
        publish(n=f"urgent-{rounds}-a")  # two urgent events arrive per event the relay delivers
        publish(n=f"urgent-{rounds}-b")
        assert outbox.relay(batch_size=1).delivered == 1
        rounds += 1
    stored = refreshed(low)
    assert stored.status == "delivered", f"starved: still pending after {rounds} relay rounds"
    waited = (stored.delivered_at - low.available_at).total_seconds()
    # priorities still held until the aging bound (urgent events went first), then it went first
    assert 1.0 <= waited < 2.5
    assert OutboxEvent.objects.filter(event_type="test.audit", status="delivered").count() == rounds - 1
    # aging off (0): priorities alone, the low-priority event waits behind every urgent one
    settings.STRATA_OUTBOX_PRIORITY_AGING = 0
    late = publish("test.flaky", fail_times=0, n="late")
    OutboxEvent.objects.filter(pk=late.pk).update(available_at=timezone.now() - timedelta(hours=1))
    publish(n="urgent-last")
    assert outbox.relay(batch_size=1).delivered == 1
    assert refreshed(late).status == "pending"


def test_an_ingest_s_embedding_is_claimed_before_graph_and_fact_updates():
    from content.pending_loads import EVENT_UNEMBEDDED
    from content.services import EVENT_INGESTED
    from knowledge.writes import EVENT_FACTS_CHANGED, EVENT_GRAPH_CHANGED

    for embedding in (EVENT_INGESTED, EVENT_UNEMBEDDED):
        assert outbox.priority_of(embedding) < outbox.priority_of(EVENT_GRAPH_CHANGED)
        assert outbox.priority_of(embedding) < outbox.priority_of(EVENT_FACTS_CHANGED)


@pytest.mark.django_db
def test_event_without_handlers_is_marked_delivered_and_logged(caplog):
    event = publish("test.nobody-listens")
    with caplog.at_level("WARNING", logger="core.outbox"):
        assert outbox.relay().delivered == 1
    assert refreshed(event).status == OutboxEvent.Status.DELIVERED
    assert "no handler for event type 'test.nobody-listens'" in caplog.text


@pytest.mark.django_db
def test_failed_handler_is_retried_alone_and_its_writes_are_rolled_back(settings):
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 30
    event = publish("test.flaky", fail_times=1)

    before = timezone.now()
    assert outbox.relay() == outbox.RelayResult(retried=1)
    stored = refreshed(event)
    assert stored.status == OutboxEvent.Status.PENDING
    assert stored.attempts == 1
    assert before + timedelta(seconds=30) <= stored.available_at <= timezone.now() + timedelta(seconds=33)
    assert "tests.outbox_handlers.flaky" in stored.last_error
    assert "planned failure 1 of 1" in stored.last_error
    # the handler that succeeded is recorded; the failing one's write was rolled back
    assert effects(event, h.AUDIT_ACTION) == 1
    assert effects(event, h.FLAKY_ACTION) == 0
    assert set(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True)) == {
        "tests.outbox_handlers.record_audit"
    }

    assert outbox.relay() == outbox.RelayResult()  # not due yet
    make_due(event)
    assert outbox.relay() == outbox.RelayResult(delivered=1)
    assert refreshed(event).status == OutboxEvent.Status.DELIVERED
    assert effects(event, h.AUDIT_ACTION) == 1  # not run again
    assert effects(event, h.FLAKY_ACTION) == 1
    assert OutboxDelivery.objects.filter(event=event).count() == 2


@pytest.mark.django_db
def test_a_deferred_event_waits_without_counting_attempts_and_never_dies(settings):
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 2
    cache.set(h.WAIT_KEY, True, 600)
    try:
        event = publish("test.waiting", delay=40)
        for _ in range(5):  # more waits than the attempts allowed: never a dead letter
            make_due(event)
            before = timezone.now()
            assert outbox.relay() == outbox.RelayResult(deferred=1)
            stored = refreshed(event)
            assert stored.status == OutboxEvent.Status.PENDING
            assert stored.attempts == 0  # the claim's attempt was given back
            # the longest wait asked (the transactional handler's 40 s, not the other's 20)
            assert before + timedelta(seconds=40) <= stored.available_at <= timezone.now() + timedelta(seconds=41)
            assert stored.last_error.startswith("deferred (not a failure) until ")
            assert "waiting for the test's flag" in stored.last_error
        assert outbox.relay() == outbox.RelayResult()  # not due yet
        # the deferring handler's writes rolled back with its savepoint; the other handler ran once
        assert effects(event, h.WAITING_ACTION) == 0
        assert effects(event, h.WAITING_OUTSIDE_ACTION) == 0
        assert effects(event, h.AUDIT_ACTION) == 1
    finally:
        cache.delete(h.WAIT_KEY)
    make_due(event)
    assert outbox.relay() == outbox.RelayResult(delivered=1)
    stored = refreshed(event)
    assert stored.status == OutboxEvent.Status.DELIVERED and stored.attempts == 0
    assert (effects(event, h.WAITING_ACTION), effects(event, h.WAITING_OUTSIDE_ACTION)) == (1, 1)
    assert effects(event, h.AUDIT_ACTION) == 1


@pytest.mark.django_db
def test_a_failure_beside_a_deferral_counts_as_a_failed_attempt(settings):
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 10
    cache.set(h.WAIT_KEY, True, 600)
    try:
        event = publish("test.waiting", delay=300, fail=True)
        before = timezone.now()
        assert outbox.relay() == outbox.RelayResult(retried=1)
    finally:
        cache.delete(h.WAIT_KEY)
    stored = refreshed(event)
    assert stored.attempts == 1  # counted: a real failure, retried with the backoff, not the wait
    assert stored.available_at <= before + timedelta(seconds=12)
    assert "waiting_outside: planned failure" in stored.last_error and "deferred" not in stored.last_error
    assert effects(event, h.WAITING_ACTION) == 0 and effects(event, h.AUDIT_ACTION) == 1


@pytest.mark.django_db
def test_backoff_doubles_then_the_event_becomes_a_dead_letter(settings, caplog):
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 10
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 3
    event = publish("test.flaky", fail_times=99)

    for attempt, delay in [(1, 10), (2, 20)]:
        make_due(event)
        before = timezone.now()
        assert outbox.relay() == outbox.RelayResult(retried=1)
        stored = refreshed(event)
        assert stored.attempts == attempt
        assert stored.available_at >= before + timedelta(seconds=delay)
        assert stored.available_at <= timezone.now() + timedelta(seconds=delay * 1.1 + 1)

    make_due(event)
    with caplog.at_level("ERROR", logger="core.outbox"):
        assert outbox.relay() == outbox.RelayResult(dead=1)
    stored = refreshed(event)
    assert stored.status == OutboxEvent.Status.DEAD
    assert stored.attempts == 3
    assert "planned failure 3 of 99" in stored.last_error
    assert f"dead letter after 3 attempts; replay it with `manage.py outbox_replay --event {event.id}`" in caplog.text

    make_due(event)
    assert outbox.relay() == outbox.RelayResult()  # dead letters are left alone
    assert effects(event, h.FLAKY_ACTION) == 0


@pytest.mark.django_db
def test_an_attempt_that_kills_the_process_counts_and_the_event_ends_as_a_dead_letter(settings, caplog):
    """Issue 6, defect 7: the attempt is counted when the event is claimed, in its own
    transaction, so a handler that kills its process is not retried forever."""
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 10
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 3
    event = publish("test.poison")
    for attempt in (1, 2, 3):
        make_due(event)
        before = timezone.now()
        with pytest.raises(h.ProcessDied):
            outbox.relay()
        stored = refreshed(event)
        assert (stored.status, stored.attempts) == (OutboxEvent.Status.PENDING, attempt)
        assert stored.available_at >= before + timedelta(seconds=10 * 2 ** (attempt - 1))  # the retry, not now
        assert f"attempt {attempt} started" in stored.last_error and "did not finish" in stored.last_error
    assert outbox.relay() == outbox.RelayResult()  # the third retry is not due yet
    make_due(event)
    with caplog.at_level("ERROR", logger="core.outbox"):
        assert outbox.relay() == outbox.RelayResult(dead=1)
    stored = refreshed(event)
    assert (stored.status, stored.attempts) == (OutboxEvent.Status.DEAD, 3)
    assert "did not finish" in stored.last_error
    assert f"dead letter after 3 attempts; replay it with `manage.py outbox_replay --event {event.id}`" in caplog.text
    assert effects(event, h.POISON_ACTION) == 0  # every attempt's writes were rolled back


@pytest.mark.django_db
def test_a_delivered_event_counts_only_its_failed_attempts(settings):
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 10
    event = publish("test.flaky", fail_times=1)
    assert outbox.relay() == outbox.RelayResult(retried=1)
    make_due(event)
    assert outbox.relay() == outbox.RelayResult(delivered=1)
    stored = refreshed(event)
    assert (stored.status, stored.attempts) == (OutboxEvent.Status.DELIVERED, 1)
    assert "planned failure 1 of 1" in stored.last_error  # the last failure stays readable


def test_backoff_delay_grows_exponentially_with_bounded_jitter(settings):
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 2
    for attempts, base in [(1, 2), (2, 4), (3, 8), (6, 64)]:
        for _ in range(20):
            assert base <= outbox.backoff_delay(attempts) <= base * (1 + outbox.BACKOFF_JITTER)
    assert outbox.backoff_delay(10_000) <= outbox.MAX_BACKOFF_SECONDS * (1 + outbox.BACKOFF_JITTER)


# ---------------------------------------------------------------- replay


@pytest.mark.django_db
def test_replay_brings_a_dead_letter_back_and_it_is_delivered(settings, django_capture_on_commit_callbacks):
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 2
    cache.set(h.DOWNSTREAM_DOWN_KEY, True)
    event = publish("test.downstream")
    assert outbox.relay().retried == 1
    make_due(event)
    assert outbox.relay().dead == 1
    assert effects(event, h.DOWNSTREAM_ACTION) == 0

    cache.delete(h.DOWNSTREAM_DOWN_KEY)  # the downstream service is fixed
    with django_capture_on_commit_callbacks() as callbacks:
        assert outbox.replay(event_ids=[event.id]) == 1
    assert callbacks == [outbox.kick_relay]
    stored = refreshed(event)
    assert (stored.status, stored.attempts) == (OutboxEvent.Status.PENDING, 0)
    assert stored.available_at <= timezone.now()
    assert AuditEntry.objects.filter(action="outbox.replay", changes__requeued=1).exists()

    assert outbox.relay().delivered == 1
    assert refreshed(event).status == OutboxEvent.Status.DELIVERED
    assert effects(event, h.DOWNSTREAM_ACTION) == 1


@pytest.mark.django_db
def test_replay_selects_dead_letters_by_default_and_never_reruns_a_delivered_handler():
    dead = publish("test.audit")
    delivered = publish("test.audit")
    other_type = publish("test.downstream")
    assert outbox.relay().delivered == 3
    OutboxEvent.objects.filter(pk__in=[dead.pk, other_type.pk]).update(status=OutboxEvent.Status.DEAD)

    assert outbox.replay(event_type="test.audit") == 1  # only the dead one of that type
    assert refreshed(dead).status == OutboxEvent.Status.PENDING
    assert refreshed(delivered).status == OutboxEvent.Status.DELIVERED
    assert refreshed(other_type).status == OutboxEvent.Status.DEAD

    assert outbox.replay(event_ids=[delivered.id], dead_only=False) == 1
    assert refreshed(delivered).delivered_at is None
    assert outbox.replay(event_ids=[uuid.uuid4()]) == 0
    assert outbox.relay().delivered == 2
    assert effects(dead) == 1 and effects(delivered) == 1  # the delivery records held


# ---------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_never_deliver_an_event_twice():
    with transaction.atomic():
        events = [publish(sleep=0.005, n=n) for n in range(40)]
    barrier = threading.Barrier(4)
    results: list[outbox.RelayResult] = []
    errors: list[BaseException] = []

    def run_relay() -> None:
        try:
            barrier.wait(timeout=30)
            total = outbox.RelayResult()
            while (result := outbox.relay(batch_size=3)).processed:
                total += result
            results.append(total)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(results) == 4
    assert sum(r.delivered for r in results) == 40  # each event counted by exactly one relay
    assert sum(r.retried + r.dead for r in results) == 0  # and no relay tripped over another's event
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.DELIVERED).count() == 40
    assert OutboxDelivery.objects.count() == 40
    per_event = {str(e.id): 0 for e in events}
    for object_id in AuditEntry.objects.filter(action=h.AUDIT_ACTION).values_list("object_id", flat=True):
        per_event[object_id] += 1
    assert set(per_event.values()) == {1}


@pytest.mark.django_db(transaction=True)
def test_relay_skips_an_event_locked_by_another_relay_instead_of_waiting():
    locked, free = publish(n=1), publish(n=2)
    holding, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                OutboxEvent.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(timeout=20)  # bounded: a relay that waited would finish, then fail below
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert holding.wait(timeout=20)
        assert outbox.relay() == outbox.RelayResult(delivered=1)
        assert refreshed(free).status == OutboxEvent.Status.DELIVERED
        assert refreshed(locked).status == OutboxEvent.Status.PENDING
    finally:
        release.set()
        thread.join()
    assert outbox.relay() == outbox.RelayResult(delivered=1)
    assert effects(locked) == 1 and effects(free) == 1


# ---------------------------------------------------------------- task, registry


@pytest.mark.django_db
def test_relay_task_loops_while_batches_are_full():
    events = [publish(n=n) for n in range(5)]
    assert tasks.outbox_relay(batch_size=2) == {"delivered": 5, "retried": 0, "dead": 0, "deferred": 0}
    assert all(effects(e) == 1 for e in events)
    assert tasks.outbox_relay() == {"delivered": 0, "retried": 0, "dead": 0, "deferred": 0}


def test_test_handlers_are_registered_from_settings():
    names = [name for name, _ in outbox.handlers_for("test.flaky")]
    assert names == ["tests.outbox_handlers.record_audit", "tests.outbox_handlers.flaky"]
    assert "test.downstream" in outbox.registered_event_types()


def test_register_refuses_a_name_taken_by_another_function():
    event_type = f"test.registry.{uuid.uuid4().hex}"

    def first(event: OutboxEvent) -> None: ...

    def second(event: OutboxEvent) -> None: ...

    try:
        outbox.register(event_type, name="shared-name")(first)
        outbox.register(event_type, name="shared-name")(first)  # the same function again: fine
        with pytest.raises(ImproperlyConfigured, match="already used"):
            outbox.register(event_type, name="shared-name")(second)
        assert outbox.handlers_for(event_type) == [("shared-name", first)]
    finally:
        outbox._registry.pop(event_type, None)
    with pytest.raises(ValueError):
        outbox.register("test.too-long", name="x" * 201)(first)
    with pytest.raises(ValueError):
        outbox.register("")


def test_autodiscover_reports_a_missing_handler_module(settings):
    settings.STRATA_OUTBOX_HANDLER_MODULES = ["tests.outbox_handlers", "tests.no_such_handlers"]
    with pytest.raises(ImproperlyConfigured, match="tests.no_such_handlers"):
        outbox.autodiscover_handlers()


# ---------------------------------------------------------------- outbox_replay command


def run_replay(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("outbox_replay", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def dead_letter(event_type: str = "test.audit", error: str = "boom") -> OutboxEvent:
    event = publish(event_type)
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.DEAD, attempts=8, last_error=error)
    return refreshed(event)


@pytest.mark.django_db
def test_replay_command_requeues_every_dead_letter_and_lists_them():
    first, second = dead_letter(error="Traceback...\nRuntimeError: disk full"), dead_letter("test.downstream")
    delivered = publish()
    assert outbox.relay() == outbox.RelayResult(delivered=1)  # dead letters are not picked up
    assert refreshed(delivered).status == OutboxEvent.Status.DELIVERED

    out, err = run_replay("--all-dead")
    assert f"requeue {first.id} test.audit (was dead, 8 attempts; last error: RuntimeError: disk full)" in out
    assert f"requeue {second.id} test.downstream" in out
    assert "Requeued 2 event(s)" in out
    assert err == ""
    assert refreshed(first).status == refreshed(second).status == OutboxEvent.Status.PENDING
    assert refreshed(first).attempts == 0
    assert refreshed(delivered).status == OutboxEvent.Status.DELIVERED


@pytest.mark.django_db
def test_replay_command_dry_run_changes_nothing():
    event = dead_letter()
    out, _ = run_replay("--event", str(event.id), "--dry-run")
    assert f"would requeue {event.id}" in out
    assert "Dry run: 1 event(s) would be requeued; nothing changed." in out
    assert refreshed(event).status == OutboxEvent.Status.DEAD


@pytest.mark.django_db
def test_replay_command_by_type_and_including_delivered_events():
    dead = dead_letter("test.audit")
    dead_other = dead_letter("test.downstream")
    delivered = publish("test.audit")
    outbox.relay()

    out, _ = run_replay("--type", "test.audit")
    assert str(dead.id) in out and str(dead_other.id) not in out
    assert refreshed(dead_other).status == OutboxEvent.Status.DEAD

    with pytest.raises(CommandError, match="no event matches"):
        run_replay("--event", str(delivered.id))
    out, _ = run_replay("--event", str(delivered.id), "--include-delivered")
    assert f"requeue {delivered.id} test.audit (was delivered" in out
    assert refreshed(delivered).status == OutboxEvent.Status.PENDING


@pytest.mark.django_db
def test_replay_command_explains_skipped_ids():
    dead = dead_letter()
    delivered = publish()
    outbox.relay()
    missing = uuid.uuid4()
    out, err = run_replay("--event", str(dead.id), str(delivered.id), "--event", str(missing))
    assert "Requeued 1 event(s)" in out
    assert f"skipped {delivered.id}: it is delivered, not dead (use --include-delivered)" in err
    assert f"skipped {missing}: no such event" in err


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "select events with --event UUID, --type TYPE or --all-dead"),
        (("--event", "not-a-uuid", "--event", "1234"), "not a valid event id (UUID): 'not-a-uuid', '1234'"),
        (("--all-dead", "--include-delivered"), "contradict"),
        (("--all-dead",), "no event matches status dead"),
        (("--type", "test.none"), "no event matches type 'test.none', status dead"),
    ],
)
def test_replay_command_errors(args, message):
    event = publish()
    with pytest.raises(CommandError) as excinfo:
        run_replay(*args)
    assert message in str(excinfo.value)
    assert refreshed(event).status == OutboxEvent.Status.PENDING  # nothing was touched
