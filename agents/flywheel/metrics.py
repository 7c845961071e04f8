"""Daily metrics per agent (a Celery beat job, ``tasks.aggregate_daily_metrics``): for one UTC
day, every agent's interactions, judged interactions and their verdicts, latency percentiles and
retrieval hit rate. Idempotent: re-running a day replaces its rows in one transaction.

An interaction's *verdict* comes from its most recent feedback that says something about the
answer: the outcome if given; else a correction means ``edited``; else thumbs up/down mean
``accepted``/``rejected``; else a rating of 4-5 means ``accepted`` and 1-2 ``rejected`` (3 says
nothing). Rates are shares of the *judged* interactions (those with a verdict):

- acceptance rate = accepted / judged; rejection rate = rejected / judged;
- retrieval hit rate = judged interactions whose answer cited a source and was accepted / judged;
- latency p50 / p95 = ``percentile_cont`` of ``latency_ms.total`` over all the day's interactions.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from agents.flywheel.models import AgentDailyMetric

_AGGREGATE = """
WITH ev AS (
    SELECT e.id, e.workspace_id, e.agent_id,
           (e.latency_ms ->> 'total')::float8 AS total_ms,
           jsonb_typeof(e.citations) = 'array' AND jsonb_array_length(e.citations) > 0 AS cited
    FROM agents_interaction_event e
    WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
      AND (%(ws)s::bigint IS NULL OR e.workspace_id = %(ws)s::bigint)
      AND e.workspace_id IN (SELECT id FROM core_workspace)
),
judged AS (
    SELECT DISTINCT ON (event_id) event_id, verdict FROM (
        SELECT f.event_id, f.updated_at, f.id,
               CASE WHEN f.outcome <> '' THEN f.outcome
                    WHEN f.correction <> '' THEN 'edited'
                    WHEN f.thumbs = 'up' THEN 'accepted'
                    WHEN f.thumbs = 'down' THEN 'rejected'
                    WHEN f.rating >= 4 THEN 'accepted'
                    WHEN f.rating <= 2 THEN 'rejected'
               END AS verdict
        FROM agents_feedback f
        WHERE f.event_occurred_at >= %(start)s AND f.event_occurred_at < %(end)s
    ) f
    WHERE verdict IS NOT NULL
    ORDER BY event_id, updated_at DESC, id DESC
)
SELECT ev.workspace_id, ev.agent_id,
       count(*) AS interactions,
       count(j.verdict) AS judged,
       count(*) FILTER (WHERE j.verdict = 'accepted') AS accepted,
       count(*) FILTER (WHERE j.verdict = 'edited') AS edited,
       count(*) FILTER (WHERE j.verdict = 'rejected') AS rejected,
       count(*) FILTER (WHERE j.verdict = 'accepted' AND ev.cited) AS hits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.total_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY ev.total_ms) AS p95
FROM ev LEFT JOIN judged j ON j.event_id = ev.id
GROUP BY ev.workspace_id, ev.agent_id
"""


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@transaction.atomic
def aggregate_day(*, day: dt.date, workspace_id: int | None = None) -> int:
    """Recompute (replace) the metrics of ``day`` for every agent (of one workspace, or all);
    returns how many agent-day rows it wrote."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    params = {"start": start, "end": start + dt.timedelta(days=1), "ws": workspace_id}
    with connection.cursor() as cursor:
        cursor.execute(_AGGREGATE, params)
        rows = cursor.fetchall()
    old = AgentDailyMetric.objects.filter(day=day)
    if workspace_id is not None:
        old = old.filter(workspace_id=workspace_id)
    old.delete()
    AgentDailyMetric.objects.bulk_create(
        AgentDailyMetric(
            workspace_id=ws,
            agent_id=agent,
            day=day,
            interactions=total,
            judged=judged,
            accepted=accepted,
            edited=edited,
            rejected=rejected,
            acceptance_rate=_share(accepted, judged),
            rejection_rate=_share(rejected, judged),
            retrieval_hit_rate=_share(hits, judged),
            latency_p50_ms=p50,
            latency_p95_ms=p95,
        )
        for ws, agent, total, judged, accepted, edited, rejected, hits, p50, p95 in rows
    )
    return len(rows)
