"""Outbox handlers used by the tests only (loaded through STRATA_OUTBOX_HANDLER_MODULES in
tests/settings.py, and by the Celery worker the worker tests start).

Every handler leaves a checkable effect: an AuditEntry whose ``object_id`` is the event id and
whose ``action`` names the handler, so "the effect exists exactly once" is a simple count.

Event types:
    test.audit       record_audit
    test.flaky       record_audit + flaky (fails while event.attempts < payload["fail_times"])
    test.downstream  downstream (fails while the cache flag DOWNSTREAM_DOWN_KEY is set)
    test.waiting     record_audit + waiting (transactional) + waiting_outside (not): both defer
                     the event (outbox.Deferred, payload["delay"] s) while WAIT_KEY is set;
                     waiting_outside fails instead with payload["fail"]
    test.poison      poison (kills the process running it: SIGKILL with payload["kill"],
                     else raises ProcessDied, a BaseException that no handler catches)
"""

from __future__ import annotations

import os
import signal
import time

from django.core.cache import cache

from core import outbox
from core.models import OutboxEvent
from core.services import audit_record

AUDIT_ACTION = "test.outbox.audit"
FLAKY_ACTION = "test.outbox.flaky"
DOWNSTREAM_ACTION = "test.outbox.downstream"
DOWNSTREAM_DOWN_KEY = "test-outbox-downstream-down"
POISON_ACTION = "test.outbox.poison"
WAITING_ACTION = "test.outbox.waiting"
WAITING_OUTSIDE_ACTION = "test.outbox.waiting-outside"
WAIT_KEY = "test-outbox-wait"


class DownstreamUnavailable(RuntimeError):
    pass


class ProcessDied(BaseException):  # noqa: N818 -- stands for the process dying, not an error
    """What an in-process test raises where a worker would be killed mid-handler."""


def _effect(event: OutboxEvent, action: str) -> None:
    audit_record(
        actor=None,
        action=action,
        object_type="core.OutboxEvent",
        object_id=event.id,
        workspace_id=event.workspace_id,
        changes={"pid": os.getpid(), "attempts": event.attempts},
    )


@outbox.register("test.audit")
@outbox.register("test.flaky")
@outbox.register("test.waiting")
def record_audit(event: OutboxEvent) -> None:
    # payload["sleep"] slows the handler so concurrent relays overlap (not a timing assertion)
    if event.payload.get("sleep"):
        time.sleep(float(event.payload["sleep"]))
    _effect(event, AUDIT_ACTION)


@outbox.register("test.flaky")
def flaky(event: OutboxEvent) -> None:
    # The write happens before the failure: the savepoint must roll it back.
    _effect(event, FLAKY_ACTION)
    fail_times = int(event.payload.get("fail_times", 0))
    if event.attempts < fail_times:
        raise RuntimeError(f"flaky handler: planned failure {event.attempts + 1} of {fail_times}")


@outbox.register("test.downstream")
def downstream(event: OutboxEvent) -> None:
    _effect(event, DOWNSTREAM_ACTION)
    if cache.get(DOWNSTREAM_DOWN_KEY):
        raise DownstreamUnavailable("downstream service is down")


@outbox.register("test.waiting")
def waiting(event: OutboxEvent) -> None:
    _effect(event, WAITING_ACTION)  # rolled back with its savepoint while it defers
    if cache.get(WAIT_KEY):
        raise outbox.Deferred("waiting for the test's flag", delay=float(event.payload.get("delay", 60)))


@outbox.register("test.waiting", transactional=False)
def waiting_outside(event: OutboxEvent) -> None:
    if event.payload.get("fail"):
        raise RuntimeError("waiting_outside: planned failure")
    if cache.get(WAIT_KEY):
        raise outbox.Deferred("waiting outside for the test's flag", delay=float(event.payload.get("delay", 60)) / 2)
    _effect(event, WAITING_OUTSIDE_ACTION)


@outbox.register("test.poison")
def poison(event: OutboxEvent) -> None:
    _effect(event, POISON_ACTION)  # rolled back with the attempt
    if event.payload.get("kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    raise ProcessDied(f"attempt {event.attempts + 1} killed the process")
