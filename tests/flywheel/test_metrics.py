"""The daily aggregation on known data: rates over judged interactions, latency percentiles
(percentile_cont), retrieval hit rate; re-running a day replaces it; workspaces stay apart."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.flywheel import feedback, metrics
from agents.flywheel.models import AgentDailyMetric
from agents.flywheel.services import record_interaction
from agents.flywheel.tasks import aggregate_daily_metrics
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


def give(ws, event_id, user, **kw):
    return feedback.feedback_give(workspace_id=ws.id, event_id=event_id, user_id=user.pk, **kw)


@pytest.fixture
def known_day(workspace, other_workspace, user, other_user):
    ws = workspace.id
    e = [
        record_interaction(
            interaction(ws, agent_id=1, occurred_at=days_ago(1, hour=h), latency_ms={"llm": 1.0, "total": ms})
        )
        for h, ms in ((1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0))
    ]
    give(workspace, e[0], other_user, thumbs="down")  # older: the later judgement wins
    give(workspace, e[0], user, outcome="accepted")  # cited (the helper's citation) and accepted: a hit
    give(workspace, e[1], user, thumbs="down", rating=5)  # thumbs outrank the rating
    give(workspace, e[2], user, correction="Rotate twice.")  # a correction alone: edited
    give(workspace, e[2], other_user, rating=3)  # says nothing
    # agent 2: accepted, but no citation (not a hit)
    e2 = record_interaction(interaction(ws, agent_id=2, occurred_at=days_ago(1), citations=[]))
    give(workspace, e2, user, rating=5)
    # not that day, and not that workspace
    record_interaction(interaction(ws, agent_id=1, occurred_at=days_ago(0)))
    foreign = record_interaction(interaction(other_workspace.id, agent_id=1, occurred_at=days_ago(1)))
    give(other_workspace, foreign, other_user, thumbs="up")
    return days_ago(1).date(), e


def test_aggregate_day_on_known_data(workspace, other_workspace, known_day):
    day, _ = known_day
    assert metrics.aggregate_day(day=day) == 3
    one = AgentDailyMetric.objects.get(workspace=workspace, agent_id=1, day=day)
    assert (one.interactions, one.judged, one.accepted, one.edited, one.rejected) == (4, 3, 1, 1, 1)
    assert one.acceptance_rate == pytest.approx(1 / 3) and one.rejection_rate == pytest.approx(1 / 3)
    assert one.retrieval_hit_rate == pytest.approx(1 / 3)
    assert one.latency_p50_ms == pytest.approx(25.0) and one.latency_p95_ms == pytest.approx(38.5)
    two = AgentDailyMetric.objects.get(workspace=workspace, agent_id=2, day=day)
    assert (two.interactions, two.judged, two.accepted, two.acceptance_rate, two.retrieval_hit_rate) == (1, 1, 1, 1, 0)
    foreign = AgentDailyMetric.objects.get(workspace=other_workspace, day=day)
    assert (foreign.interactions, foreign.accepted) == (1, 1)


def test_rerunning_a_day_replaces_it(workspace, user, known_day):
    day, events = known_day
    metrics.aggregate_day(day=day)
    metrics.aggregate_day(day=day)
    assert AgentDailyMetric.objects.filter(day=day).count() == 3
    give(workspace, events[3], user, thumbs="up")
    assert metrics.aggregate_day(day=day, workspace_id=workspace.id) == 2
    one = AgentDailyMetric.objects.get(workspace=workspace, agent_id=1, day=day)
    assert (one.judged, one.accepted) == (4, 2) and one.acceptance_rate == 0.5
    assert AgentDailyMetric.objects.filter(day=day).count() == 3  # the other workspace's row kept


def test_a_day_without_events_has_no_rows_and_unjudged_rates_are_empty(workspace):
    assert metrics.aggregate_day(day=dt.date(2020, 1, 1)) == 0
    record_interaction(interaction(workspace.id, occurred_at=days_ago(2)))
    metrics.aggregate_day(day=days_ago(2).date())
    row = AgentDailyMetric.objects.get()
    assert row.judged == 0 and row.acceptance_rate is None and row.latency_p50_ms == 15.0


def test_beat_task_aggregates_today_and_yesterday(workspace, known_day):
    result = aggregate_daily_metrics()
    assert result == {days_ago(1).date().isoformat(): 3, days_ago(0).date().isoformat(): 1}
    assert aggregate_daily_metrics(day=days_ago(1).date().isoformat()) == {days_ago(1).date().isoformat(): 3}
