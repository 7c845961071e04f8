"""Celery beat, in a real worker process (``celery worker --beat``), runs both flywheel jobs on
its schedule: the event partitions are created ahead and dropped after retention, and the day's
metrics appear."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.flywheel import feedback, partitions
from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent
from agents.flywheel.services import record_interaction
from tests.flywheel.helpers import days_ago, interaction
from tests.workers import wait_until

pytestmark = pytest.mark.worker


def test_beat_maintains_partitions_and_aggregates(start_worker, user, workspace):
    today = partitions.today()
    old = today - dt.timedelta(days=40)
    try:
        partitions.ensure(days=[old])
        event_id = record_interaction(interaction(workspace.id, agent_id=8, occurred_at=days_ago(1)))
        feedback.feedback_give(workspace_id=workspace.id, event_id=event_id, user_id=user.pk, outcome="accepted")
        worker = start_worker(
            beat=True,
            concurrency=1,
            env={
                "STRATA_OUTBOX_RELAY_INTERVAL": "3600",
                "STRATA_AGENTS_EVENT_PARTITIONS_INTERVAL": "0.5",
                "STRATA_AGENTS_METRICS_INTERVAL": "0.5",
                "STRATA_AGENTS_EVENT_PARTITIONS_AHEAD": "12",
                "STRATA_AGENTS_EVENT_RETENTION_DAYS": "30",
            },
        )
        ahead = today + dt.timedelta(days=12)
        wait_until(worker, lambda: ahead in partitions.existing(), "beat to create the partition 12 days ahead")
        wait_until(worker, lambda: old not in partitions.existing(), "beat to drop the 40-day-old partition")
        wait_until(
            worker,
            lambda: AgentDailyMetric.objects.filter(workspace=workspace, agent_id=8, day=days_ago(1).date()).exists(),
            "beat to aggregate yesterday's metrics",
        )
        row = AgentDailyMetric.objects.get(workspace=workspace, agent_id=8, day=days_ago(1).date())
        assert (row.interactions, row.accepted, row.acceptance_rate) == (1, 1, 1.0)
    finally:
        InteractionEvent.objects.filter(workspace_id=workspace.id).delete()
        Feedback.objects.all().delete()
