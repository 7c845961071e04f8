"""The interaction events' partitions: one per UTC day, named ``agents_interaction_event_pYYYYMMDD``.

``maintain`` (Celery beat and ``manage.py event_partitions``) creates the partitions of the next
``STRATA_AGENTS_EVENT_PARTITIONS_AHEAD`` days and drops those older than
``STRATA_AGENTS_EVENT_RETENTION_DAYS``; ``ensure`` creates missing ones on demand (an event of a
day without a partition). Names are built from dates, never from input, and composed with
psycopg's ``sql.Identifier`` / ``sql.Literal``; DDL runs in its own short transaction under an
advisory lock, so two creators never race."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

PARENT = "agents_interaction_event"
_NAME = re.compile(rf"^{PARENT}_p(\d{{8}})$")
_LOCK_KEY = 0x5354_4556  # "STEV": the advisory lock of partition DDL


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kept: int = 0


def partition_name(day: dt.date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def retention_days() -> int:
    return int(settings.STRATA_AGENTS_EVENT_RETENTION_DAYS)


def oldest_kept_day(*, on: dt.date | None = None) -> dt.date:
    """Events of days before this one are past the retention period (their partitions go)."""
    return (on or today()) - dt.timedelta(days=retention_days())


def existing() -> dict[dt.date, str]:
    """The event table's partitions by day (only names of this module's pattern count)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        match = _NAME.match(name)
        if match:
            found[dt.datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def _bound(day: dt.date) -> sql.Literal:
    return sql.Literal(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).isoformat())


def _create(cursor, day: dt.date) -> None:
    statement = sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(partition_name(day)),
        sql.Identifier(PARENT),
        _bound(day),
        _bound(day + dt.timedelta(days=1)),
    )
    cursor.execute(statement.as_string(cursor.connection))


def ensure(*, days: Iterable[dt.date]) -> list[str]:
    """Create the partitions of ``days`` that are missing; returns the names created."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    have = existing()
    missing = [d for d in wanted if d not in have]
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        have = existing()  # another process may have created them while we waited
        raw = cursor.cursor
        for day in missing:
            if day not in have:
                _create(raw, day)
                created.append(partition_name(day))
    return created


def maintain(*, on: dt.date | None = None, ahead: int | None = None, retention: int | None = None) -> MaintenanceReport:
    """Create the partitions of ``on`` (default today, UTC) and the ``ahead`` days after it;
    drop every partition of a day older than ``retention`` days before ``on``. Idempotent."""
    on = on or today()
    ahead = int(settings.STRATA_AGENTS_EVENT_PARTITIONS_AHEAD if ahead is None else ahead)
    retention = retention_days() if retention is None else int(retention)
    if ahead < 0 or retention < 1:
        raise ValueError("ahead must be >= 0 and retention >= 1 day")
    report = MaintenanceReport()
    report.created = ensure(days=[on + dt.timedelta(days=n) for n in range(ahead + 1)])
    cutoff = on - dt.timedelta(days=retention)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for day, name in sorted(existing().items()):
            if day < cutoff:
                drop = sql.SQL("DROP TABLE {}").format(sql.Identifier(name))
                cursor.execute(drop.as_string(cursor.cursor.connection))
                report.dropped.append(name)
            else:
                report.kept += 1
    return report
