"""CPU time of a function run in a forked child with a wall-clock deadline: a quadratic
regression (a regex holds the GIL, so the test process could not time it out itself) fails the
test instead of hanging it. Used by the linear-time tests and fuzzers."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable

import pytest


def _child(fn: Callable[[], object], conn) -> None:  # runs in the forked child
    start = time.process_time()
    try:
        fn()
    except BaseException as exc:  # reported to the parent, which fails the test
        conn.send(f"raised {type(exc).__name__}: {str(exc)[:200]}")
    else:
        conn.send(time.process_time() - start)
    conn.close()


def cpu_seconds(fn: Callable[[], object], *, deadline: float, what: str = "it") -> float:
    """CPU seconds ``fn()`` took in a forked child; fails the test after ``deadline`` seconds
    of wall time (``what`` names it in the message) or when ``fn`` raised."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(fn, child))
    process.start()
    child.close()
    if not parent.poll(deadline):
        os.kill(process.pid, 9)
        process.join()
        pytest.fail(f"{what} did not finish within {deadline:.0f} s (super-linear?)")
    seconds = parent.recv()
    process.join()
    if isinstance(seconds, str):
        pytest.fail(seconds)
    return seconds
