"""Interaction-event write throughput (issue 12): batches through COPY, and one row at a time.

    ./strata bench events [--events 100000] [--batches 100 1000 5000] [--singles 2000] [--days 3]

Events look like a chat turn's (a question, 8 retrieved ids, an answer of ~600 characters, 3
citations with quotes, 5 latency stages) and spread over ``--days`` UTC days, so COPY routes
them into several partitions. For each batch size: events/s (wall), and CPU per event of this
process plus the PostgreSQL backend; then ``record_interaction`` one at a time, and the ratio.
Target: >= 5,000 events/s in batches. The bench's rows are deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from agents.flywheel import partitions  # noqa: E402
from agents.flywheel.models import InteractionEvent  # noqa: E402
from agents.flywheel.services import Interaction, record_interaction, record_interactions  # noqa: E402
from bench.common import backend_cpu, verdict  # noqa: E402

TARGET_PER_SECOND = 5_000
BENCH_WORKSPACE = 2**62 + os.getpid()  # a workspace id no real workspace has: the rows are easy to find and delete
WORDS = "retrieval graph memory vector answer cite passage agent workspace partition event latency".split()


def make(n: int, days: int, rng: random.Random) -> list[Interaction]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(n):
        text = " ".join(rng.choices(WORDS, k=90))
        out.append(
            Interaction(
                workspace_id=BENCH_WORKSPACE,
                agent_id=1 + i % 5,
                agent_version=1 + i % 3,
                conversation_id=1 + i // 10,
                user_id=1 + i % 50,
                query=" ".join(rng.choices(WORDS, k=12)) + "?",
                retrieved_ids=[f"chunk:{rng.randrange(10**6)}" for _ in range(6)] + ["fact:9", "memory:4"],
                answer=text,
                citations=[
                    {"ref": f"doc:{d}", "document_id": d, "chunk_id": d * 10, "title": "T", "quote": text[:120]}
                    for d in rng.sample(range(1, 10_000), 3)
                ],
                latency_ms={"retrieve": 4.2, "graph": 2.1, "memory": 1.3, "llm": 30.5, "total": 38.1},
                model="extractive",
                occurred_at=now - dt.timedelta(days=i % days, seconds=i % 3600),
            )
        )
    return out


def measure(work) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process + the backend)."""
    cpu0, proc0, wall0 = backend_cpu(), time.process_time(), time.perf_counter()
    work()
    wall = time.perf_counter() - wall0
    return wall, (backend_cpu() - cpu0) + (time.process_time() - proc0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--singles", type=int, default=2000, help="record_interaction calls, one row each")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    partitions.maintain()
    print(f"database {connection.settings_dict['NAME']!r}; {len(partitions.existing())} event partitions")
    rng = random.Random(args.seed)
    events = make(args.events, args.days, rng)
    ok, best = True, 0.0
    try:
        print(f"{'batch':>7} {'events':>8} {'wall s':>8} {'events/s':>10} {'CPU us/event':>13}")
        for size in args.batches:
            chunks = [events[i : i + size] for i in range(0, len(events), size)]
            wall, cpu = measure(lambda chunks=chunks: [record_interactions(c) for c in chunks])
            rate = len(events) / wall
            best = max(best, rate)
            print(f"{size:>7} {len(events):>8} {wall:>8.2f} {rate:>10,.0f} {cpu / len(events) * 1e6:>13.1f}")
        singles = events[: args.singles]
        wall, cpu = measure(lambda: [record_interaction(e) for e in singles])
        single_rate = len(singles) / wall
        print(
            f"{1:>7} {len(singles):>8} {wall:>8.2f} {single_rate:>10,.0f} "
            f"{cpu / len(singles) * 1e6:>13.1f}  (record_interaction)"
        )
        print(f"batched vs one at a time: {best / single_rate:.1f}x events/s (best batch size)")
        stored = InteractionEvent.objects.filter(workspace_id=BENCH_WORKSPACE).count()
        expected = len(events) * len(args.batches) + len(singles)
        ok = stored == expected and best >= TARGET_PER_SECOND
        print(f"stored {stored:,} of {expected:,} events")
        print(f"{verdict(ok)}: event writes in batches {best:,.0f}/s (target >= {TARGET_PER_SECOND:,}/s)")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM agents_interaction_event WHERE workspace_id = %s", [BENCH_WORKSPACE])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
