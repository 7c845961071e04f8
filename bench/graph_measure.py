"""Measuring the graph benchmark: CPU time of the client and of each server, and what a load
wrote to PostgreSQL's label tables.

Server CPU comes from ``/proc/<pid>/task/*/schedstat`` (nanoseconds on CPU, precise, unlike the
tick-sampled ``/proc/<pid>/stat``): the PostgreSQL backend serving this connection, and the
FalkorDB ``redis-server`` (all its threads). Client CPU is this thread's ``time.thread_time``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

from bench.common import percentile


def schedstat_ns(pid: int | None) -> int:
    """Nanoseconds process ``pid`` (all its threads) has run; 0 when it cannot be read."""
    if pid is None:
        return 0
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError):
        return 0
    return total


def postgres_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def falkordb_pid() -> int | None:
    from core.embedded.falkordb import falkordb_dir

    path = falkordb_dir() / "falkordb.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class Series:
    """The calls of one adapter in one scenario: wall seconds, client and server CPU seconds."""

    wall: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def call(self, function: Callable[[], Any], server_pid: int | None) -> Any:
        server = schedstat_ns(server_pid)
        cpu = time.thread_time()
        started = time.perf_counter()
        result = function()
        self.wall.append(time.perf_counter() - started)
        self.client_cpu += time.thread_time() - cpu
        self.server_cpu += (schedstat_ns(server_pid) - server) / 1e9
        return result

    @property
    def p50(self) -> float:
        return statistics.median(self.wall)

    @property
    def p95(self) -> float:
        return percentile(self.wall, 0.95)

    def cpu_per_call(self) -> tuple[float, float]:
        n = max(len(self.wall), 1)
        return self.client_cpu / n, self.server_cpu / n


def label_writes(graph: str) -> dict[str, int]:
    """This transaction's rows inserted / updated / deleted in the graph's label tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(l.relation)), 0), "
            "coalesce(sum(pg_stat_get_xact_tuples_updated(l.relation)), 0), "
            "coalesce(sum(pg_stat_get_xact_tuples_deleted(l.relation)), 0) "
            "FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g ON g.graphid = l.graph "
            "WHERE g.name = %s AND l.name NOT LIKE '\\_ag\\_label\\_%%'",
            [graph],
        )
        inserted, updated, deleted = cursor.fetchone()
    return {"inserted": int(inserted), "updated": int(updated), "deleted": int(deleted)}


def graph_bytes(graph: str) -> int:
    """Size on disk of the graph's label tables with their indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(l.relation)), 0) FROM ag_catalog.ag_label l "
            "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph WHERE g.name = %s",
            [graph],
        )
        return int(cursor.fetchone()[0])


def dead_rows(graph: str) -> int:
    """Dead rows in the label tables, as the statistics say once this backend's are flushed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.2)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(s.n_dead_tup), 0) FROM ag_catalog.ag_label l "
            "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph JOIN pg_stat_user_tables s ON s.relid = l.relation "
            "WHERE g.name = %s",
            [graph],
        )
        return int(cursor.fetchone()[0])
