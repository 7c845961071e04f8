"""Redis (the cache and the Celery broker: ``REDIS_URL`` or the embedded Redis), Celery and the
transactional outbox its beat relays."""

from __future__ import annotations

import json
import os

from core import embedded
from core.embedded import redis as embedded_redis
from core.settings.env import env_bool, env_int, env_list

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    _default_broker_url = REDIS_URL
else:
    # The embedded Redis of this data dir, on its Unix socket (see core/embedded/redis.py).
    REDIS_URL = embedded_redis.redis_url(env_int("STRATA_REDIS_DB", 0))
    _default_broker_url = embedded_redis.broker_url(env_int("STRATA_REDIS_DB", 0))
    if embedded.autostart_enabled():
        embedded_redis.ensure_redis()

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("STRATA_CACHE_PREFIX", "strata"),
        "TIMEOUT": env_int("STRATA_CACHE_TIMEOUT", 300),
        # An unreachable or hung Redis costs at most these seconds, once per retry window of the
        # cache port (core/storage/redis_cache.py): pages are then served uncached.
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("STRATA_CACHE_CONNECT_TIMEOUT", "0.5")),
            "SOCKET_TIMEOUT": float(os.environ.get("STRATA_CACHE_SOCKET_TIMEOUT", "2")),
        },
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", _default_broker_url)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", None) or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "core.tasks.outbox_relay",
        "schedule": float(os.environ.get("STRATA_OUTBOX_RELAY_INTERVAL", "5")),
    },
    # the agents' usage-analytics flywheel (README "Interaction events", "Daily metrics")
    "agents-event-partitions": {
        "task": "agents.flywheel.maintain_event_partitions",
        "schedule": float(os.environ.get("STRATA_AGENTS_EVENT_PARTITIONS_INTERVAL", "3600")),
    },
    "agents-daily-metrics": {
        "task": "agents.flywheel.aggregate_daily_metrics",
        "schedule": float(os.environ.get("STRATA_AGENTS_METRICS_INTERVAL", "900")),
    },
}
# Task modules outside an app's tasks.py (the flywheel's live in agents/flywheel/tasks.py).
CELERY_IMPORTS = ["agents.flywheel.tasks"]

# ------------------------------------------------------------------ outbox
STRATA_OUTBOX_MAX_ATTEMPTS = env_int("STRATA_OUTBOX_MAX_ATTEMPTS", 8)
STRATA_OUTBOX_BACKOFF_SECONDS = float(os.environ.get("STRATA_OUTBOX_BACKOFF_SECONDS", "2"))
STRATA_OUTBOX_BATCH_SIZE = env_int("STRATA_OUTBOX_BATCH_SIZE", 100)
# Claim order of due events: lower priority first, then by due time (core/outbox_relay.py). An
# ingest's embedding is what its documents wait for ("Waiting for embedding"); the graph and fact
# updates that extraction and graph_import emit by the thousand go after it. JSON object, event
# type -> priority (default 0), replacing this default.
STRATA_OUTBOX_PRIORITIES: dict[str, int] = json.loads(
    os.environ.get("STRATA_OUTBOX_PRIORITIES")
    or '{"content.documents.ingested": -10, "content.documents.unembedded": -10}'
)
# Aging of the claim order: an event due for longer than this many seconds is claimed before every
# event that is not, whatever the priorities (oldest first), so a steady stream of prioritised
# events (a long bulk ingest) cannot starve the others. 0 turns aging off (priorities alone).
STRATA_OUTBOX_PRIORITY_AGING = float(os.environ.get("STRATA_OUTBOX_PRIORITY_AGING", "60"))
# Extra modules whose import registers outbox handlers (each app's handlers.py is found by itself).
STRATA_OUTBOX_HANDLER_MODULES = env_list("STRATA_OUTBOX_HANDLER_MODULES", [])
