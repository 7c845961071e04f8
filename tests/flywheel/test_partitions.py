"""Partition maintenance on real dates: partitions created ahead, those past the retention
period dropped with their events, idempotent; the beat task and the management command."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.flywheel import partitions
from agents.flywheel.models import InteractionEvent
from agents.flywheel.services import record_interactions
from agents.flywheel.tasks import maintain_event_partitions
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


def test_maintain_creates_ahead_and_drops_past_retention(workspace):
    today = partitions.today()
    record_interactions([interaction(workspace.id, occurred_at=days_ago(n)) for n in range(12)])
    assert {today - dt.timedelta(days=n) for n in range(12)} <= set(partitions.existing())

    report = partitions.maintain(on=today, ahead=10, retention=5)

    have = set(partitions.existing())
    assert {today + dt.timedelta(days=n) for n in range(11)} <= have
    assert partitions.partition_name(today + dt.timedelta(days=10)) in report.created
    cutoff = today - dt.timedelta(days=5)
    assert not [d for d in have if d < cutoff]
    assert sorted(report.dropped) == sorted(
        partitions.partition_name(today - dt.timedelta(days=n)) for n in range(6, 12)
    )
    kept_days = {e.occurred_at.date() for e in InteractionEvent.objects.all()}
    assert kept_days == {today - dt.timedelta(days=n) for n in range(6)}

    again = partitions.maintain(on=today, ahead=10, retention=5)
    assert again.created == [] and again.dropped == []


def test_beat_task_uses_the_settings(workspace, settings):
    settings.STRATA_AGENTS_EVENT_RETENTION_DAYS = 3
    settings.STRATA_AGENTS_EVENT_PARTITIONS_AHEAD = 9
    record_interactions([interaction(workspace.id, occurred_at=days_ago(n)) for n in range(3)])
    partitions.ensure(days=[partitions.today() - dt.timedelta(days=n) for n in range(3, 6)])
    result = maintain_event_partitions()
    assert result["dropped"] == 2  # days 4 and 5 ago; day 3 ago is the oldest kept
    assert partitions.today() + dt.timedelta(days=9) in partitions.existing()
    assert InteractionEvent.objects.count() == 3


def test_command_reports_and_refuses_bad_arguments(workspace):
    partitions.ensure(days=[partitions.today() - dt.timedelta(days=40)])
    out = StringIO()
    call_command("event_partitions", "--ahead", "2", "--retention-days", "30", stdout=out)
    text = out.getvalue()
    assert f"dropped {partitions.partition_name(partitions.today() - dt.timedelta(days=40))}" in text
    assert "1 dropped" in text and "(retention 30 days)" in text
    with pytest.raises(CommandError, match="retention"):
        call_command("event_partitions", "--retention-days", "0", stdout=StringIO())


def test_ensure_is_idempotent_and_names_are_dates():
    day = partitions.today() + dt.timedelta(days=30)
    assert partitions.ensure(days=[day, day]) == [partitions.partition_name(day)]
    assert partitions.ensure(days=[day]) == []
    assert partitions.existing()[day] == f"agents_interaction_event_p{day:%Y%m%d}"


def test_beat_runs_the_flywheel_jobs(settings):
    from core.celery import app

    app.loader.import_default_modules()
    for entry in ("agents-event-partitions", "agents-daily-metrics"):
        assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in app.tasks


def test_the_table_is_range_partitioned_with_the_partition_key_in_its_primary_key():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = ANY(p.partattrs::int2[]) "
            "WHERE p.partrelid = %s::regclass",
            [partitions.PARENT],
        )
        assert cursor.fetchall() == [("r", "occurred_at")]
        cursor.execute(
            "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[]) "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary",
            [partitions.PARENT],
        )
        assert cursor.fetchone()[0] == ["id", "occurred_at"]
        cursor.execute(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.relname = %s",
            [partitions.partition_name(partitions.today())],
        )
        bound = cursor.fetchone()[0]
    assert bound.startswith("FOR VALUES FROM ('") and "00:00:00+00" in bound
