"""How long port calls take: an in-process histogram per (app, kind, alias, operation), flushed
to Redis, which ``storage_report`` reads.

Every hook a port calls goes through ``Store._run``, which calls ``record``: a ``perf_counter``
pair and a dictionary update under a lock (about a microsecond). Durations fall into
logarithmic buckets (``BUCKET_RATIO`` apart from 10 microseconds up, so a percentile read back
is within 19 % of the true one). At most every ``STRATA_PORT_TIMINGS_FLUSH_SECONDS`` the
process adds its counts to a Redis hash per hour (``<prefix>:port-timings:<hour>``, kept for
``RETENTION_HOURS``) with one pipelined ``HINCRBY`` per touched bucket, and starts again from
zero; a flush that fails (Redis down) drops those counts and logs once. Nothing here ever raises
into a port call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)

BASE_SECONDS = 1e-5
BUCKET_RATIO = 2**0.25
MAX_BUCKET = 120  # 10 us * 1.19**120 > 10 minutes
RETENTION_HOURS = 8 * 24
WRITE_OPERATIONS = frozenset(
    {
        "upsert",
        "put_many",
        "delete",
        "delete_many",
        "delete_where",
        "bulk_load",
        "upsert_node",
        "upsert_edge",
        "delete_node",
        "delete_edge",
        "set_many",
        "delete_tagged",
    }
)

Label = tuple[str, str, str]  # app, kind, alias
_lock = threading.Lock()
_counts: dict[tuple[str, str, str, str], Counter[int]] = defaultdict(Counter)
_state = {"last_flush": time.monotonic(), "warned": False}


def bucket_of(seconds: float) -> int:
    if seconds <= BASE_SECONDS:
        return 0
    return min(MAX_BUCKET, int(math.log(seconds / BASE_SECONDS, BUCKET_RATIO)) + 1)


def bucket_seconds(bucket: int) -> float:
    """A representative duration of a bucket (its geometric middle)."""
    if bucket == 0:
        return BASE_SECONDS
    return BASE_SECONDS * BUCKET_RATIO ** (bucket - 0.5)


def record(label: Label, hook: str, seconds: float) -> None:
    """Count one call of ``hook`` (``_do_search`` -> ``search``) of the store ``label``."""
    if not label[0]:
        return  # a store created outside the handler (tests, benchmarks): not reported
    operation = hook[4:] if hook.startswith("_do_") else hook.lstrip("_")
    with _lock:
        _counts[(*label, operation)][bucket_of(seconds)] += 1
    if time.monotonic() - _state["last_flush"] >= float(settings.STRATA_PORT_TIMINGS_FLUSH_SECONDS):
        flush()


def _key(hour: int) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'strata'}:port-timings:{hour}"


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def flush() -> int:
    """Add this process's counts to Redis; returns how many buckets were written."""
    with _lock:
        counts = dict(_counts)
        _counts.clear()
        _state["last_flush"] = time.monotonic()
    if not counts:
        return 0
    hour = int(time.time() // 3600)
    try:
        pipe = _redis().pipeline(transaction=False)
        fields = 0
        for (app, kind, alias, operation), buckets in counts.items():
            for bucket, n in buckets.items():
                pipe.hincrby(_key(hour), f"{app}|{kind}|{alias}|{operation}|{bucket}", n)
                fields += 1
        pipe.expire(_key(hour), RETENTION_HOURS * 3600)
        pipe.execute()
    except Exception as error:  # telemetry never breaks a port call
        if not _state["warned"]:
            logger.warning("port timings: could not flush to Redis (%s); these counts are dropped", error)
            _state["warned"] = True
        return 0
    _state["warned"] = False
    return fields


@dataclass
class Histogram:
    buckets: Counter[int] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return sum(self.buckets.values())

    def percentile(self, q: float) -> float | None:
        """Seconds below which a fraction ``q`` of the calls fall (None without calls)."""
        total = self.calls
        if not total:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return bucket_seconds(bucket)
        return None


def read_hourly(hours: int) -> dict[int, dict[tuple[str, str, str, str], Histogram]]:
    """The recorded histograms of each of the last ``hours`` hours that has any (this hour
    included), all processes (this one's counts are flushed first)."""
    flush()
    now = int(time.time() // 3600)
    found: dict[int, dict[tuple[str, str, str, str], Histogram]] = {}
    try:
        client = _redis()
        for hour in range(now - max(1, hours) + 1, now + 1):
            per_hour: dict[tuple[str, str, str, str], Histogram] = defaultdict(Histogram)
            for raw_field, raw_count in client.hgetall(_key(hour)).items():
                name = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
                app, kind, alias, operation, bucket = name.split("|")
                per_hour[(app, kind, alias, operation)].buckets[int(bucket)] += int(raw_count)
            if per_hour:
                found[hour] = dict(per_hour)
    except Exception as error:
        logger.warning("port timings: could not read them from Redis (%s)", error)
    return found


def read(hours: int) -> dict[tuple[str, str, str, str], Histogram]:
    """The histograms of the last ``hours`` hours, merged."""
    merged: dict[tuple[str, str, str, str], Histogram] = defaultdict(Histogram)
    for per_hour in read_hourly(hours).values():
        for label, histogram in per_hour.items():
            merged[label].buckets.update(histogram.buckets)
    return dict(merged)


def clear(hours: Iterable[int] | None = None) -> None:
    """Drop the recorded timings (tests)."""
    with _lock:
        _counts.clear()
    now = int(time.time() // 3600)
    keys = [_key(hour) for hour in (hours if hours is not None else range(now - RETENTION_HOURS, now + 1))]
    try:
        _redis().delete(*keys)
    except Exception as error:
        logger.warning("port timings: could not clear them in Redis (%s)", error)
