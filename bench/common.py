"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def time_calls(call: Callable[[Any], Any], inputs: Sequence[Any], warm: int = 3) -> tuple[list[float], list[Any]]:
    """(seconds of each call, its result) of ``call(x)`` for each input, after ``warm`` untimed
    calls on the first inputs (compose and prepare the statements, fill the caches)."""
    for item in inputs[:warm]:
        call(item)
    times, answers = [], []
    for item in inputs:
        seconds, answer = timed(lambda item=item: call(item))
        times.append(seconds)
        answers.append(answer)
    return times, answers


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def backend_cpu(*, missing_ok: bool = False) -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (from /proc: the server
    must run on this machine). ``missing_ok``: 0.0 when /proc has no such process instead of
    raising (a remote server)."""
    from django.db import connection  # (this module is imported before django.setup())

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        if missing_ok:
            return 0.0
        raise
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu() -> float:
    """CPU seconds used so far by the whole PostgreSQL server of this connection: the postmaster,
    every live child (backends, parallel and autovacuum workers, WAL writer, checkpointer) and
    the children that ended (the postmaster reaps them, /proc counts them in its cutime). For
    work spread over several connections, where one backend's figure misses the others."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    postmaster = int(_stat(pid)[1])
    fields = _stat(postmaster)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except OSError:
            continue
        if int(child[1]) == postmaster:
            total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (index 1: ppid, 11/12: utime/stime,
    13/14: the ended children's)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
