"""graph_import's batches on two connections: while one batch is written (its transaction), the
next is staged and parsed on the other, so both cores work (knowledge/imports.py).

Each batch runs start to end on one connection (its staging tables are that session's), in two
steps: ``prepare`` (staging, parsing, checks: nothing the other batches see) and ``write`` (one
transaction). The writes take turns in the file's order: batch k+1 writes only after batch k
committed, so a repeated node or edge merges across batches exactly as in one session, and a
batch sees the entities the batches before it created. When a batch fails, no later batch writes
and its error is raised, as in one session (the batches before it are committed).

One session is used instead when the caller is inside a transaction (another session would not
see its rows, and the import would no longer be one transaction's part) or the file is a single
batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

from core import parallel
from knowledge import import_sql

Item = TypeVar("Item")
State = TypeVar("State")
Result = TypeVar("Result")

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """A batch after one that failed: not written."""


class _Turns:
    """Batch k writes when every batch before it has written (or none does, once stopped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self.stopped = False

    def wait(self, k: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next == k or self.stopped)
            if self.stopped:
                raise _Stopped

    def done(self, k: int) -> None:
        with self._cond:
            self._next = k + 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


def run_in_order(
    items: Iterable[Item],
    *,
    setup: Callable[[Any], None],
    teardown: Callable[[Any], None],
    prepare: Callable[[Any, Item], State],
    write: Callable[[Any, State], Result],
    sessions: int | None = None,
) -> Iterator[Result]:
    """``write(cursor, prepare(cursor, item))`` of each item, yielded in order, each item on one
    session (``setup(cursor)`` once per session first); on ``sessions`` threads
    (``core.parallel.ordered_map``, default ``STRATA_GRAPH_IMPORT_CONNECTIONS``) or, with one,
    on the caller's connection (``teardown(cursor)`` after the last item); see the module's
    docstring."""
    sessions = settings.STRATA_GRAPH_IMPORT_CONNECTIONS if sessions is None else sessions
    items = iter(items)
    head = [item for item in (next(items, None), next(items, None)) if item is not None]
    if sessions < 2 or len(head) < 2 or connection.in_atomic_block:
        with import_sql.cursor() as cursor:
            setup(cursor)
            for item in chain(head, items):
                yield write(cursor, prepare(cursor, item))
            teardown(cursor)
        return
    yield from _pipelined(chain(head, items), setup, prepare, write, sessions)


def _pipelined(items: Iterator[Any], setup: Callable, prepare: Callable, write: Callable, sessions: int) -> Iterator:
    logger.debug("graph_import: batches on %d sessions", sessions)
    turns = _Turns()
    ready = threading.local()  # per thread: its session has the staging tables

    def run(numbered: tuple[int, Any]) -> Any:
        k, item = numbered
        try:
            with import_sql.cursor() as cursor:  # this thread's own connection
                if not getattr(ready, "tables", False):
                    setup(cursor)
                    ready.tables = True
                state = prepare(cursor, item)
                turns.wait(k)
                result = write(cursor, state)
            turns.done(k)
            return result
        except BaseException:
            turns.stop()  # no batch after this one writes
            raise

    # (each thread's connection, and its staging tables, close when the thread ends)
    outcomes = parallel.ordered_map(run, enumerate(items), workers=sessions)
    try:
        for outcome in outcomes:
            yield outcome.get()
    finally:
        turns.stop()  # (all done, or a batch failed or the consumer stopped: none writes after it)
        outcomes.close()
