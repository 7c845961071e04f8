"""Moving an app's store of one kind to another backend, online, verified and reversible
(``manage.py storage_move``; this module is its service layer).

The steps, each recorded in the ``StorageMove`` row and the audit log:

1. **dual writes**: the route keeps reading from the source and writes to both
   (``routing.set_route`` waits for the writers that read the old route; projections and vector
   slices then write both backends);
2. **backfill**: every unit the app declared (``core.storage.namespaces``) is copied from the
   source through the ports, a page at a time, the cursor saved after each page (an interrupted
   backfill resumes where it stopped), then the key sets are reconciled;
3. **verify**: once the outbox has delivered what is pending, counts per unit, checksums of a
   sample of items, and the same answers to a sample of searches (vectors) or traversals
   (graph) from both backends;
4. **switch reads** to the target (still writing both);
5. after a grace period (longer than any reader's cached route), **stop writing the source**.

A backend that is unavailable (``StoreUnavailable``) pauses the step: it is retried with
backoff for up to ``max_wait`` seconds, after which the move stays ``paused`` and running the
command again resumes it. ``rollback`` routes everything back to the source while the source
still receives writes (steps 1-4); after step 5 it moves the data back with the same steps.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.audit import audit_record
from core.models import OutboxEvent, StorageMove
from core.projections import projections_for
from core.storage import namespaces, routing, storages
from core.storage.copiers import COPIERS
from core.storage.copiers.base import Copier
from core.storage.ports import StoreUnavailable, UnknownCollection, UnknownLabel

logger = logging.getLogger(__name__)
T = TypeVar("T")
Say = Callable[[str], None]
Step = StorageMove.Step


class MoveError(Exception):
    """The move cannot go on (bad request, verification failed)."""


class MovePaused(MoveError):
    """A backend stayed unavailable longer than the move waits; run it again to resume."""


@dataclass(frozen=True)
class Plan:
    app: str
    kind: str
    source: str
    target: str
    route: routing.Route
    units: list[tuple[str, int]]
    active: StorageMove | None


def copier(app: str, kind: str, source: str, target: str, *, page_size: int = 500) -> Copier:
    if kind not in COPIERS:
        raise MoveError(f"{kind!r} stores cannot be moved (only {sorted(COPIERS)})")
    return COPIERS[kind](
        app,
        namespaces.namespace(app),
        storages.backend(app, kind, source),
        storages.backend(app, kind, target),
        page_size=page_size,
    )


def active_move(app: str, kind: str) -> StorageMove | None:
    return StorageMove.objects.filter(app=app, kind=kind, finished_at__isnull=True).first()


def plan(app: str, kind: str, target: str) -> Plan:
    """What a move of (app, kind) to ``target`` would do (reads only)."""
    if target not in routing.backends(app, kind):
        raise MoveError(
            f"STRATA_STORAGE offers no {kind!r} backend {target!r} for {app!r}: {sorted(routing.backends(app, kind))}"
        )
    route = routing.route(app, kind)
    active = active_move(app, kind)
    if active is not None and active.target != target:
        raise MoveError(f"a move of {app} {kind} to {active.target!r} is in progress: resume it or --rollback")
    source = active.source if active is not None else route.read
    if source == target and active is None:
        raise MoveError(f"{app} {kind} is already served by {target!r}")
    copy = copier(app, kind, source, target)
    units = [(unit, copy.count(copy.source, unit)) for unit in copy.units()]
    return Plan(app, kind, source, target, route, units, active)


def _audit(move: StorageMove, step: str, **changes: Any) -> None:
    audit_record(
        actor=None,
        action=f"storage.move.{step}",
        object_type="core.StorageMove",
        object_id=move.pk,
        changes={"app": move.app, "kind": move.kind, "source": move.source, "target": move.target, **changes},
    )


def _save(move: StorageMove, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(move, name, value)
    move.save(update_fields=[*fields, "updated_at"])


def _retrying(move: StorageMove, fn: Callable[[], T], *, max_wait: float, say: Say) -> T:
    """``fn()``, retried with backoff while a backend is unavailable; paused after ``max_wait``."""
    waited, delay = 0.0, 1.0
    while True:
        try:
            result = fn()
        except StoreUnavailable as error:
            if waited >= max_wait:
                _save(move, status=StorageMove.Status.PAUSED, last_error=str(error))
                _audit(move, "paused", at_step=move.step, error=str(error))
                raise MovePaused(
                    f"paused at step {move.get_step_display()!r}: {error}; run the same command again to resume"
                ) from error
            if move.status != StorageMove.Status.PAUSED:
                _save(move, status=StorageMove.Status.PAUSED, last_error=str(error))
            say(f"a backend is unavailable ({error}); retrying in {delay:.0f} s")
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
            continue
        if move.status == StorageMove.Status.PAUSED:
            _save(move, status=StorageMove.Status.RUNNING, last_error="")
        return result


# ---------------------------------------------------------------- the steps


def start(app: str, kind: str, target: str, *, actor: Any = None) -> StorageMove:
    """Step 1: dual writes (or the active move of (app, kind) to ``target``, to resume it)."""
    found = plan(app, kind, target)
    if found.active is not None:
        return found.active
    with transaction.atomic():
        move = StorageMove.objects.create(app=app, kind=kind, source=found.source, target=target)
        routing.set_route(app, kind, read=found.source, writes=[found.source, target])
        audit_record(
            actor=actor,
            action="storage.move.dual_writes",
            object_type="core.StorageMove",
            object_id=move.pk,
            changes={"app": app, "kind": kind, "source": found.source, "target": target, "units": found.units},
        )
    _save(move, step=Step.BACKFILL)
    return move


def backfill(
    move: StorageMove,
    *,
    max_wait: float = 600.0,
    page_size: int = 500,
    say: Say = logger.info,
    progress: Any = None,
) -> dict[str, Any]:
    """Step 2: copy every unit from its checkpoint, then reconcile the key sets."""
    copy = copier(move.app, move.kind, move.source, move.target, page_size=page_size)
    state = move.checkpoint or {}
    units_state: dict[str, dict[str, Any]] = state.setdefault("units", {})
    if units_state:
        say(f"resuming the backfill from its checkpoint ({move.copied} items copied before)")
    seen: set[str] = set()
    while True:
        units = [unit for unit in _retrying(move, copy.units, max_wait=max_wait, say=say) if unit not in seen]
        if not units:
            break
        for unit in units:
            seen.add(unit)
            unit_state = units_state.setdefault(unit, {"after": None, "done": False, "copied": 0})
            if unit_state["done"]:
                continue
            _retrying(move, lambda unit=unit: copy.prepare(unit), max_wait=max_wait, say=say)
            while True:
                after = unit_state["after"]
                copied, cursor = _retrying(
                    move, lambda unit=unit, after=after: copy.copy_page(unit, after), max_wait=max_wait, say=say
                )
                unit_state.update(after=cursor, copied=unit_state["copied"] + copied, done=cursor is None)
                _save(move, checkpoint=state, copied=move.copied + copied)
                if progress is not None:
                    progress(copied)
                if cursor is None:
                    break
    reconciled = {}
    for unit in sorted(seen):
        reconciled[unit] = _retrying(
            move, lambda unit=unit: copy.reconcile(unit, lambda: _held(move.app, move.kind)), max_wait=max_wait, say=say
        )
    state["reconciled"] = reconciled
    _save(move, checkpoint=state, step=Step.VERIFY)
    _audit(move, "backfill", copied=move.copied, reconciled=reconciled)
    return reconciled


@contextmanager
def _held(app: str, kind: str) -> Iterator[None]:
    with transaction.atomic():
        routing.hold_route(app, kind)
        yield


def settle(app: str, kind: str, *, timeout: float, before: Any = None, say: Say = logger.info) -> int:
    """Deliver what the outbox holds for the app's projections (dead letters replayed; with
    ``before``, the events created until then), so both backends have every write committed
    until then; returns the events still pending at the timeout."""
    types = sorted(
        {t for t in outbox.registered_event_types() if any(p.app == app and p.kind == kind for p in projections_for(t))}
    )
    if not types:
        return 0
    dead = OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD, event_type__in=types)
    if dead.exists():
        count = outbox.replay(event_ids=list(dead.values_list("id", flat=True)))
        say(f"replayed {count} dead projection event(s) of {app} {kind}")
    deadline = time.monotonic() + timeout
    while True:
        pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, event_type__in=types)
        if before is not None:
            pending = pending.filter(created_at__lte=before)
        if not pending.exists():
            return 0
        outbox.relay()  # (a worker may be relaying too: events are claimed with SKIP LOCKED)
        if time.monotonic() > deadline:
            return pending.count()
        time.sleep(0.2)


def _compare_keys(copy: Copier, unit: str, *, settle_seconds: float, say: Say) -> dict[str, Any]:
    """Counts and key sets of the unit in both backends. Live writes reach the source first and
    the target a moment later (or the other way round for a vector slice), so a key found in
    only one is looked up again once the writes committed before the comparison have landed;
    only a difference that outlasts that counts."""
    started = timezone.now()
    source, target = copy.keys(copy.source, unit), copy.keys_or_none(copy.target, unit)
    differing = sorted(source ^ target)
    missing: list[str] = []
    extra: list[str] = []
    if differing:
        settle(copy.app, copy.kind, timeout=settle_seconds, before=started, say=say)
        with _held(copy.app, copy.kind):  # no write half-way between the two
            in_source = copy.present(copy.source, unit, differing)
            in_target = copy.present(copy.target, unit, differing)
        missing = sorted(key for key in differing if key in in_source and key not in in_target)
        extra = sorted(key for key in differing if key in in_target and key not in in_source)
    return {
        "source_count": len(source),
        "target_count": len(target),
        "in_flight": len(differing) - len(missing) - len(extra),
        "missing_in_target": missing[:20],
        "extra_in_target": extra[:20],
        "keys_ok": not missing and not extra,
    }


def verify(
    app: str,
    kind: str,
    source: str,
    target: str,
    *,
    sample: int = 50,
    settle_seconds: float = 60.0,
    say: Say = logger.info,
) -> dict[str, Any]:
    """Step 3: counts and key sets, checksums of a sample and sample searches/traversals, per unit."""
    copy = copier(app, kind, source, target)
    report: dict[str, Any] = {"ok": True, "units": {}, "source": source, "target": target}
    rng = random.Random(f"{app}.{kind}")
    min_overlap = float(settings.STRATA_MOVE_MIN_SEARCH_OVERLAP)
    for unit in copy.units():
        settle(app, kind, timeout=settle_seconds, say=say)
        result = _compare_keys(copy, unit, settle_seconds=settle_seconds, say=say)
        keys = sorted(copy.keys(copy.source, unit))
        chosen = rng.sample(keys, min(sample, len(keys)))
        differ = _differing(copy, unit, chosen)
        if differ:  # once more after the outbox settled: a write may have been in flight
            settle(app, kind, timeout=settle_seconds, say=say)
            differ = _differing(copy, unit, differ)
        result.update(sampled=len(chosen), checksum_mismatches=differ[:20])
        try:
            probes = copy.probes(unit, chosen[:10])
            failed = [p for p in probes if not p["same"]]
            if failed:  # live writes between the two searches: ask those again once settled
                settle(app, kind, timeout=settle_seconds, say=say)
                again = {p["query"]: p for p in copy.probes(unit, sorted({p["key"] for p in failed}))}
                probes = [again.get(p["query"], p) if not p["same"] else p for p in probes]
        except (UnknownCollection, UnknownLabel) as error:  # the target lacks the unit
            probes = [{"key": "", "query": str(error), "same": False}]
        overlaps = [p["overlap"] for p in probes if "overlap" in p]
        result["probes"] = len(probes)
        result["probe_mismatches"] = [p["query"] for p in probes if not p["same"]][:20]
        if overlaps:
            result["mean_search_overlap"] = round(sum(overlaps) / len(overlaps), 3)
        ok = (
            result["keys_ok"]
            and not differ
            and (not overlaps or result["mean_search_overlap"] >= min_overlap)
            and (overlaps or not result["probe_mismatches"])
        )
        result["ok"] = ok
        report["units"][unit] = result
        report["ok"] = report["ok"] and ok
    return report


def _differing(copy: Copier, unit: str, keys: list[str]) -> list[str]:
    source = copy.checksums(copy.source, unit, keys)
    try:
        target = copy.checksums(copy.target, unit, keys)
    except (UnknownCollection, UnknownLabel):
        target = {}
    return sorted(
        key
        for key in set(source) | set(target)
        if key not in source or key not in target or not copy.same(source[key], target[key])
    )


def switch_reads(move: StorageMove, *, grace: float) -> None:
    """Step 4: the target serves reads; both still receive writes until the grace period ends."""
    routing.set_route(move.app, move.kind, read=move.target, writes=[move.source, move.target])
    _save(move, step=Step.READS_SWITCHED, grace_until=timezone.now() + timedelta(seconds=grace))
    _audit(move, "reads_switched", grace_seconds=grace)


def finish(move: StorageMove, *, say: Say = logger.info) -> None:
    """Step 5: once the grace period has passed, stop writing the source."""
    remaining = (move.grace_until - timezone.now()).total_seconds() if move.grace_until else 0.0
    if remaining > 0:
        say(f"grace period: both backends receive writes for {remaining:.0f} s more")
        time.sleep(remaining)
    routing.set_route(move.app, move.kind, read=move.target, writes=[move.target])
    _save(move, step=Step.DONE, status=StorageMove.Status.DONE, finished_at=timezone.now())
    _audit(move, "done", copied=move.copied)


def grace_seconds(requested: float | None) -> float:
    """The grace period: as requested, but at least twice the readers' route cache."""
    floor = 2 * float(settings.STRATA_STORAGE_ROUTE_TTL)
    return max(floor, float(settings.STRATA_STORAGE_MOVE_GRACE if requested is None else requested))


def rollback(app: str, kind: str, *, actor: Any = None) -> StorageMove | None:
    """Route (app, kind) back to the source of its active move (which still receives writes);
    returns that move, or None when no move is active (see ``last_done``)."""
    move = active_move(app, kind)
    if move is None:
        return None
    routing.set_route(app, kind, read=move.source, writes=[move.source])
    _save(move, step=Step.ROLLED_BACK, status=StorageMove.Status.ROLLED_BACK, finished_at=timezone.now())
    audit_record(
        actor=actor,
        action="storage.move.rolled_back",
        object_type="core.StorageMove",
        object_id=move.pk,
        changes={"app": app, "kind": kind, "source": move.source, "target": move.target},
    )
    return move


def last_done(app: str, kind: str) -> StorageMove | None:
    return (
        StorageMove.objects.filter(app=app, kind=kind, status=StorageMove.Status.DONE).order_by("-finished_at").first()
    )
