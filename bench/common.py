"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
