"""Database work on a few threads, each with its own connections (bulk ingest's writers).

One PostgreSQL session uses one core at most, and a client that waits for its session leaves
the machine's other cores idle: a bulk ingest of 50,000 documents in batches spent half its
time with one core waiting for the other. ``ordered_map`` runs ``call(item)`` on ``workers``
threads (Django gives each thread its own database connection, the storage handler its own
adapters) and yields the outcomes in input order:

- at most ``2 * workers`` calls are in flight or queued (a thread whose call ended before an
  earlier one's starts the next), so a long input stream is never read far ahead;
- ``keys(item)``: an item whose keys meet those of a call in flight waits for it (and the calls
  before it) to finish, so two calls never work on the same keys at once and, for the same key,
  run in input order (an ingest of the same external id twice in one file: the later wins);
- ``first_alone``: the first call finishes before any other starts (it creates what a first
  write creates lazily: a collection, a graph label, the workspace's embedding model);
- each thread closes its database connections and stores when it ends; when the consumer stops
  early, the calls running finish and the queued ones never start.

With ``workers`` <= 1 the calls run one after the other in the calling thread, on its
connection (inside a caller's transaction that is the only right way).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections

from core.storage.handler import storages

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome(Generic[T, R]):
    """One call's input and its result, or the exception it raised."""

    item: T
    result: R | None = None
    error: Exception | None = None

    def get(self) -> R:
        """The result (raises the call's exception)."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


def ordered_map(
    call: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    keys: Callable[[T], Iterable[Hashable]] | None = None,
    first_alone: bool = False,
) -> Generator[Outcome[T, R], None, None]:
    """``call(item)`` for every item on ``workers`` threads; outcomes in input order (module doc)."""
    if workers <= 1:
        for item in items:
            try:
                yield Outcome(item, call(item))
            except Exception as error:  # noqa: BLE001 (the outcome carries it to the consumer)
                yield Outcome(item, error=error)
        return
    tasks: queue.Queue[tuple[Future[Any], Callable[[T], R], T] | None] = queue.Queue()
    threads = [
        threading.Thread(target=_work, args=(tasks,), name=f"strata-db-{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    pending: deque[tuple[T, Future[Any], frozenset[Hashable]]] = deque()
    try:
        for position, item in enumerate(items):
            mine = frozenset(keys(item)) if keys is not None else frozenset()
            while pending and (
                len(pending) >= 2 * workers or (mine and any(mine & theirs for _, _, theirs in pending))
            ):
                yield _outcome(pending.popleft())
            future: Future[Any] = Future()
            tasks.put((future, call, item))
            pending.append((item, future, mine))
            if position == 0 and first_alone:
                yield _outcome(pending.popleft())
        while pending:
            yield _outcome(pending.popleft())
    finally:
        for _, future, _ in pending:  # stopped early: what has not started never will
            future.cancel()
        for _ in threads:
            tasks.put(None)
        for thread in threads:
            thread.join()


def _outcome(entry: tuple[T, Future[Any], frozenset[Hashable]]) -> Outcome[T, Any]:
    item, future, _ = entry
    error = future.exception()
    if error is not None:
        if not isinstance(error, Exception):  # e.g. SystemExit in a worker: not an item's failure
            raise error
        return Outcome(item, error=error)
    return Outcome(item, future.result())


def _work(tasks: queue.Queue[tuple[Future[Any], Callable[[Any], Any], Any] | None]) -> None:
    try:
        while True:
            task = tasks.get()
            if task is None:
                return
            future, call, item = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call(item))
            except BaseException as error:  # noqa: BLE001 (handed to the consumer)
                future.set_exception(error)
    finally:
        storages.close_all()
        connections.close_all()


def start(call: Callable[[], R], *, name: str = "strata-db-background") -> Future[R]:
    """``call()`` on a thread of its own (its own database connections, closed when it ends);
    the future carries its result or exception (a staged load's index build while the rows of
    a bulk ingest are written)."""
    future: Future[R] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as error:  # noqa: BLE001 (handed to whoever waits for the future)
            future.set_exception(error)
        finally:
            storages.close_all()
            connections.close_all()

    threading.Thread(target=run, name=name, daemon=True).start()
    return future

