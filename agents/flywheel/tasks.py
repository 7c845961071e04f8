"""Celery beat jobs of the flywheel (registered through ``CELERY_IMPORTS``). Thin: call one
service. Both are idempotent, so beat, retries and manual runs may overlap."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from agents.flywheel import partitions

logger = logging.getLogger(__name__)


@shared_task(name="agents.flywheel.maintain_event_partitions", ignore_result=True)
def maintain_event_partitions() -> dict[str, int]:
    """Create the coming days' event partitions, drop those past the retention period."""
    report = partitions.maintain()
    if report.created or report.dropped:
        logger.info("event partitions: created %s, dropped %s", report.created, report.dropped)
    return {"created": len(report.created), "dropped": len(report.dropped), "kept": report.kept}


@shared_task(name="agents.flywheel.aggregate_daily_metrics", ignore_result=True)
def aggregate_daily_metrics(day: str | None = None) -> dict[str, int]:
    """Recompute the daily metrics of ``day`` (ISO date), or of today and yesterday (UTC): late
    feedback on yesterday's answers still counts."""
    from agents.flywheel import metrics

    if day:
        days = [dt.date.fromisoformat(day)]
    else:
        today = partitions.today()
        days = [today - dt.timedelta(days=1), today]
    return {d.isoformat(): metrics.aggregate_day(day=d) for d in days}
