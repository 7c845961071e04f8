"""Celery tasks of the core app. Thin: parse arguments, call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from core import outbox

logger = logging.getLogger(__name__)

#: One task run handles at most this many full batches, then hands over to a fresh task so a
#: long backlog does not pin one worker process.
MAX_BATCHES_PER_RUN = 50


@shared_task(name="core.tasks.outbox_relay", ignore_result=True)
def outbox_relay(batch_size: int | None = None) -> dict[str, int]:
    """Deliver due outbox events. Idempotent: any number may run at once (events are claimed
    with SKIP LOCKED and each handler's delivery is recorded), so kicks, beat and retries of
    this task never deliver an event twice."""
    size = int(batch_size or settings.STRATA_OUTBOX_BATCH_SIZE)
    total = outbox.RelayResult()
    for _ in range(MAX_BATCHES_PER_RUN):
        result = outbox.relay(batch_size=size)
        total += result
        if result.processed < size:
            break
    else:
        logger.info("outbox relay: backlog after %d batches, continuing in a new task", MAX_BATCHES_PER_RUN)
        outbox.kick_relay()
    return total.as_dict()
