"""Logging filters that keep the terminal of ``./strata run`` readable.

Beat runs the outbox relay every few seconds; Celery logs each run three times at INFO (beat's
"Sending due task", the worker's "received" and "succeeded"), which buries everything else,
the start-up banner included. The relay logs by itself when it delivers something
(``outbox relay: N delivered, ...``), so those routine lines are dropped. Warnings and errors
(a failed or retried relay) always pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

RELAY_TASK = "core.tasks.outbox_relay"


class QuietRelayRuns(logging.Filter):
    """Drop Celery's per-run INFO lines of the beat-driven outbox relay task."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        # celery.app.trace and celery.worker.strategy: "Task %(name)s[%(id)s] received/succeeded ..."
        if isinstance(args, Mapping) and args.get("name") == RELAY_TASK:
            return False
        # celery.beat: "Scheduler: Sending due task %s (%s)"
        return not (isinstance(args, tuple) and RELAY_TASK in args)
