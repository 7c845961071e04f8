"""core.parallel.ordered_map: database work on a few threads, outcomes in input order, calls on
the same keys never at once, each thread's connections closed when it ends."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from core import parallel


def test_outcomes_come_in_input_order_when_later_calls_finish_first():
    def call(n: int) -> int:
        time.sleep(0.05 if n % 2 == 0 else 0.0)  # even items finish after the odd one beside them
        return n * n

    outcomes = list(parallel.ordered_map(call, range(8), workers=2))
    assert [o.item for o in outcomes] == list(range(8))
    assert [o.get() for o in outcomes] == [n * n for n in range(8)]


def test_calls_run_on_several_threads_at_once():
    names: set[str] = set()
    both = threading.Barrier(2, timeout=5)

    def call(n: int) -> int:
        names.add(threading.current_thread().name)
        both.wait()  # only passes if two calls are running at the same time
        return n

    assert [o.get() for o in parallel.ordered_map(call, range(4), workers=2)] == [0, 1, 2, 3]
    assert len(names) == 2 and threading.current_thread().name not in names


def test_calls_on_the_same_keys_never_overlap_and_keep_their_order():
    lock = threading.Lock()
    running: list[frozenset[str]] = []
    overlaps: list[tuple[frozenset[str], frozenset[str]]] = []
    order: list[tuple[str, int]] = []
    items = [("a", "b"), ("c",), ("a",), ("d",), ("b", "c"), ("e",), ("a",)]

    def call(keys: tuple[str, ...]) -> None:
        mine = frozenset(keys)
        with lock:
            overlaps.extend((mine, other) for other in running if mine & other)
            running.append(mine)
            order.extend((key, items.index(keys)) for key in keys)
        time.sleep(0.02)
        with lock:
            running.remove(mine)

    for outcome in parallel.ordered_map(call, items, workers=3, keys=lambda keys: keys):
        outcome.get()
    assert overlaps == []
    for key in "abc":  # each key's calls in input order
        positions = [position for k, position in order if k == key]
        assert positions == sorted(positions)


def test_the_first_call_can_run_alone():
    events: list[str] = []

    def call(n: int) -> None:
        events.append(f"start {n}")
        time.sleep(0.03)
        events.append(f"end {n}")

    list(parallel.ordered_map(call, range(3), workers=2, first_alone=True))
    assert events[:2] == ["start 0", "end 0"]


def test_an_exception_is_the_outcome_of_its_call_only():
    def call(n: int) -> int:
        if n == 2:
            raise ValueError("bad item 2")
        return n

    outcomes = list(parallel.ordered_map(call, range(5), workers=2))
    assert [o.error is None for o in outcomes] == [True, True, False, True, True]
    with pytest.raises(ValueError, match="bad item 2"):
        outcomes[2].get()
    serial = list(parallel.ordered_map(call, range(5), workers=1))
    assert [type(o.error) for o in serial] == [type(o.error) for o in outcomes]


def test_one_worker_runs_in_the_calling_thread():
    threads = [o.get() for o in parallel.ordered_map(lambda _: threading.current_thread(), range(3), workers=1)]
    assert threads == [threading.current_thread()] * 3


@pytest.mark.django_db(transaction=True)
def test_each_thread_has_its_own_connection_and_closes_it():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    wrappers = []

    def call(_: int) -> int:
        wrappers.append(connections["default"])
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    pids = {o.get() for o in parallel.ordered_map(call, range(6), workers=2)}
    assert mine not in pids and 1 <= len(pids) <= 2
    assert all(wrapper.connection is None for wrapper in wrappers)  # closed when their thread ended
    deadline = time.monotonic() + 5  # a backend leaves pg_stat_activity just after its client closed
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            left = cursor.fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0


def test_stopping_early_lets_the_calls_in_flight_finish():
    finished: list[int] = []

    def call(n: int) -> int:
        time.sleep(0.02)
        finished.append(n)
        return n

    outcomes = parallel.ordered_map(call, range(100), workers=2)
    assert next(outcomes).get() == 0
    outcomes.close()  # the consumer stops: no new call starts, the running ones end
    count = len(finished)
    time.sleep(0.1)
    assert len(finished) == count < 100
