"""Reading the flywheel: evaluation cases (for ``manage.py evaluate``), daily metric series (the
analytics page) and training examples (``manage.py export_training_data``). Every selector takes
the workspace and returns only its rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent


@dataclass(frozen=True)
class EvalCase:
    """An interaction a user accepted or corrected: replay ``query`` and compare."""

    event_id: int
    agent_id: int
    agent_version: int
    query: str
    cited_refs: list[str]  # the "ref" of each citation of the judged answer
    expected_answer: str  # the correction if there is one, else the accepted answer
    verdict: str  # "accepted" or "corrected"
    occurred_at: dt.datetime = field(compare=False)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _time_range(column: str, since: dt.date | None, until: dt.date | None) -> Q:
    """``since`` and ``until`` are UTC days, both included."""
    q = Q()
    if since is not None:
        q &= Q(**{f"{column}__gte": _day_start(since)})
    if until is not None:
        q &= Q(**{f"{column}__lt": _day_start(until + dt.timedelta(days=1))})
    return q


def interactions_for_evaluation(
    *, workspace_id: int, agent_id: int, since: dt.date | None = None, until: dt.date | None = None
) -> list[EvalCase]:
    """The agent's accepted and corrected interactions (oldest first): an interaction whose most
    recent correction is non-empty is ``corrected`` (expected answer: the correction); else one
    whose feedback accepted it (outcome accepted, or thumbs up, or rating 4-5, with no rejection)
    is ``accepted`` (expected answer: the answer given)."""
    feedback = list(
        Feedback.objects.filter(workspace_id=workspace_id, agent_id=agent_id)
        .filter(_time_range("event_occurred_at", since, until))
        .order_by("-updated_at", "-id")
    )
    corrections: dict[int, str] = {}
    accepted: set[int] = set()
    rejected: set[int] = set()
    for fb in feedback:
        if fb.correction and fb.event_id not in corrections:
            corrections[fb.event_id] = fb.correction
        if fb.outcome == Feedback.Outcome.REJECTED or fb.thumbs == Feedback.Thumbs.DOWN:
            rejected.add(fb.event_id)
        elif fb.outcome == Feedback.Outcome.ACCEPTED or fb.thumbs == Feedback.Thumbs.UP or (fb.rating or 0) >= 4:
            accepted.add(fb.event_id)
    wanted = set(corrections) | (accepted - rejected)
    if not wanted:
        return []
    events = InteractionEvent.objects.filter(workspace_id=workspace_id, agent_id=agent_id, id__in=wanted).filter(
        _time_range("occurred_at", since, until)
    )
    cases = [
        EvalCase(
            event_id=e.id,
            agent_id=e.agent_id,
            agent_version=e.agent_version,
            query=e.query,
            cited_refs=[c.get("ref", "") for c in e.citations if isinstance(c, dict) and c.get("ref")],
            expected_answer=corrections.get(e.id, e.answer),
            verdict="corrected" if e.id in corrections else "accepted",
            occurred_at=e.occurred_at,
        )
        for e in events
    ]
    return sorted(cases, key=lambda c: (c.occurred_at, c.event_id))


def daily_metrics(
    *, workspace_id: int, since: dt.date, until: dt.date, agent_id: int | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per agent, its daily metric rows from ``since`` to ``until`` (included), oldest first."""
    rows = AgentDailyMetric.objects.filter(workspace_id=workspace_id, day__gte=since, day__lte=until)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    series: dict[int, list[dict[str, Any]]] = {}
    for row in rows.order_by("agent_id", "day").values(
        "agent_id",
        "day",
        "interactions",
        "judged",
        "accepted",
        "edited",
        "rejected",
        "acceptance_rate",
        "rejection_rate",
        "retrieval_hit_rate",
        "latency_p50_ms",
        "latency_p95_ms",
    ):
        series.setdefault(row["agent_id"], []).append(row)
    return series


def agent_ids_with_events(*, workspace_id: int) -> list[int]:
    return sorted(
        AgentDailyMetric.objects.filter(workspace_id=workspace_id).values_list("agent_id", flat=True).distinct()
    )


def training_examples(
    *,
    workspace_id: int,
    agent_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    feedback: str | None = None,
    batch: int = 500,
) -> Iterator[dict[str, Any]]:
    """(prompt, context, answer, feedback, correction) of the workspace's judged interactions,
    oldest first, in batches. ``feedback``: ``accepted``, ``edited``, ``rejected``, ``up``,
    ``down``, ``corrected`` (has a correction), ``rated`` or None (any feedback)."""
    fb = Feedback.objects.filter(workspace_id=workspace_id).filter(_time_range("event_occurred_at", since, until))
    if agent_id is not None:
        fb = fb.filter(agent_id=agent_id)
    if feedback in Feedback.Outcome.values:
        fb = fb.filter(outcome=feedback)
    elif feedback in Feedback.Thumbs.values:
        fb = fb.filter(thumbs=feedback)
    elif feedback == "corrected":
        fb = fb.exclude(correction="")
    elif feedback == "rated":
        fb = fb.filter(rating__isnull=False)
    elif feedback is not None:
        raise ValueError(f"unknown feedback filter {feedback!r}")
    ordered = fb.order_by("event_occurred_at", "event_id", "id").values_list("event_id", flat=True)
    seen: set[int] = set()
    event_ids = [e for e in ordered if not (e in seen or seen.add(e))]
    for start in range(0, len(event_ids), batch):
        chunk = event_ids[start : start + batch]
        events = {e.id: e for e in InteractionEvent.objects.filter(workspace_id=workspace_id, id__in=chunk)}
        judgements: dict[int, list[Feedback]] = {}
        for row in Feedback.objects.filter(workspace_id=workspace_id, event_id__in=chunk).order_by(
            "-updated_at", "-id"
        ):
            judgements.setdefault(row.event_id, []).append(row)
        for event_id in chunk:
            event = events.get(event_id)
            if event is None:  # past the retention period: the event's partition is gone
                continue
            rows = judgements.get(event_id, [])
            correction = next((r.correction for r in rows if r.correction), "")
            yield {
                "prompt": event.query,
                "context": event.citations,
                "retrieved_ids": event.retrieved_ids,
                "answer": event.answer,
                "feedback": [
                    {"thumbs": r.thumbs, "rating": r.rating, "outcome": r.outcome, "correction": r.correction}
                    for r in rows
                ],
                "correction": correction,
                "event_id": event.id,
                "agent_id": event.agent_id,
                "agent_version": event.agent_version,
                "model": event.model,
                "occurred_at": event.occurred_at.isoformat(),
            }
