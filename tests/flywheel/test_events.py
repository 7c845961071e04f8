"""Interaction events: one row per call, a batch through COPY, each in its day's partition,
ids unique across partitions, bad items refused before anything is written."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.flywheel import partitions
from agents.flywheel.models import InteractionEvent
from agents.flywheel.services import record_interaction, record_interactions
from tests.flywheel.helpers import days_ago, interaction, partition_of

pytestmark = pytest.mark.django_db


def test_record_interaction_stores_every_field_in_todays_partition(workspace):
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    event_id = record_interaction(interaction(workspace.id, agent_id=5, user_id=3, occurred_at=when))
    event = InteractionEvent.objects.get(id=event_id)
    assert (event.workspace_id, event.agent_id, event.agent_version, event.conversation_id, event.user_id) == (
        workspace.id,
        5,
        1,
        7,
        3,
    )
    assert event.query == "how do I rotate the keys?"
    assert event.retrieved_ids == ["chunk:1", "fact:2"]
    assert event.citations[0]["ref"] == "doc:12"
    assert event.latency_ms == {"retrieve": 3.0, "llm": 10.0, "total": 15.0}
    assert event.model == "extractive" and event.occurred_at == when
    assert partition_of(event_id) == partitions.partition_name(when.date())


def test_total_latency_is_the_sum_of_the_stages_when_missing(workspace):
    event_id = record_interaction(interaction(workspace.id, latency_ms={"retrieve": 2, "llm": 5.5}))
    assert InteractionEvent.objects.get(id=event_id).latency_ms["total"] == 7.5


def test_a_day_without_a_partition_gets_one_and_ids_stay_unique(workspace):
    old = days_ago(20)
    assert old.date() not in partitions.existing()
    first = record_interaction(interaction(workspace.id, occurred_at=old))
    second = record_interaction(interaction(workspace.id))
    assert old.date() in partitions.existing()
    assert partition_of(first) == partitions.partition_name(old.date())
    assert partition_of(second) != partition_of(first)
    assert first != second
    assert InteractionEvent.objects.filter(id__in=[first, second]).count() == 2


def test_the_future_is_refused(workspace):
    with pytest.raises(ValueError, match="in the future"):
        record_interaction(interaction(workspace.id, occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)))
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)  # another host's clock, a little ahead
    assert InteractionEvent.objects.get(id=record_interaction(interaction(workspace.id, occurred_at=soon))).occurred_at
    assert InteractionEvent.objects.count() == 1


def test_older_than_retention_is_refused(workspace, settings):
    settings.STRATA_AGENTS_EVENT_RETENTION_DAYS = 10
    with pytest.raises(ValueError, match="older than the retention period"):
        record_interaction(interaction(workspace.id, occurred_at=days_ago(11)))
    with pytest.raises(ValueError, match="item 1: occurred_at"):
        record_interactions([interaction(workspace.id), interaction(workspace.id, occurred_at=days_ago(11))])
    assert not InteractionEvent.objects.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"agent_id": 0}, "agent_id"),
        ({"conversation_id": "1"}, "conversation_id"),
        ({"agent_version": -1}, "agent_version"),
        ({"query": None}, "query"),
        ({"retrieved_ids": [1, 2]}, "retrieved_ids"),
        ({"citations": ["doc:1"]}, "citations"),
        ({"latency_ms": {"llm": float("nan")}}, "latency_ms"),
        ({"latency_ms": {"llm": -1}}, "latency_ms"),
        ({"occurred_at": dt.datetime(2026, 1, 1)}, "aware"),  # noqa: DTZ001 (the naive datetime refused)
        ({"model": "m" * 201}, "model"),
        ({"citations": [{"quote": object()}]}, "not JSON"),
    ],
)
def test_bad_interactions_are_refused_whole_batch(workspace, override, message):
    good = interaction(workspace.id)
    with pytest.raises(ValueError, match=message):
        record_interaction(interaction(workspace.id, **override))
    with pytest.raises(ValueError, match=f"item 2: .*{message}"):
        record_interactions([good, good, interaction(workspace.id, **override)])
    assert not InteractionEvent.objects.exists()


def test_nul_characters_are_kept_out_of_text_and_json(workspace):
    event_id = record_interaction(
        interaction(workspace.id, query="a\x00b", citations=[{"quote": "c\x00d"}], answer="\x00")
    )
    event = InteractionEvent.objects.get(id=event_id)
    assert event.query == "a\ufffdb" and event.citations == [{"quote": "c\ufffdd"}] and event.answer == "\ufffd"


def test_batch_copies_every_row_into_its_days_partition(workspace, other_workspace):
    items = [
        interaction(
            workspace.id if n % 2 else other_workspace.id,
            agent_id=1 + n % 3,
            query=f"question {n}\twith tab\nand newline \\ backslash",
            occurred_at=days_ago(n % 3, hour=n % 24),
            latency_ms={"total": float(n)},
        )
        for n in range(600)
    ]
    assert record_interactions(iter(items)) == 600
    assert record_interactions([]) == 0
    events = InteractionEvent.objects.order_by("id")
    assert events.count() == 600
    assert events.filter(workspace_id=workspace.id).count() == 300
    stored = {e.query for e in events}
    assert stored == {i.query for i in items}
    assert sorted(e.latency_ms["total"] for e in events) == [float(n) for n in range(600)]
    assert {partition_of(e.id) for e in events[:50]} == {
        partitions.partition_name(days_ago(n).date()) for n in range(3)
    }
    ids = list(events.values_list("id", flat=True))
    assert len(set(ids)) == 600
