"""Outbox claim order under a bulk ingest with extraction on: how long an ingest batch's
documents wait for their embedding while extraction's graph and fact updates queue beside them.

    ./strata bench outbox [--docs 3000 --batch 100 --relay-per-batch 150]

In its own database (``STRATA_DB_NAME=strata_bench`` via ./strata), twice in one run: with the
claim priorities off (``STRATA_OUTBOX_PRIORITIES={}``: due events by due time only, as before) and
with the default. Each round ingests ``--batch`` documents (the default extractors on: each
document's extraction publishes a graph and a fact event per extractor) and then lets the relay
deliver ``--relay-per-batch`` events (a worker keeping up only partly, as on the trial's two
cores), until every document is embedded. Reports, per batch, how many events were delivered
between its ingest and the delivery of its embedding event (deterministic: it does not depend
on the machine's load), the wall time until all its documents were embedded, and CPU per event.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.common import backend_cpu, ms, percentile  # noqa: E402
from bench.knowledge_bench import cleanup, load_average  # noqa: E402
from content.models import Document  # noqa: E402
from content.services import EVENT_INGESTED, IngestItem, document_ingest  # noqa: E402
from core import outbox  # noqa: E402
from core import services as core_services  # noqa: E402
from core.models import OutboxEvent, Workspace  # noqa: E402

WORKSPACE_PREFIX = "outbox-bench-"
NAMES = "Zlib OpenSSL GnuTLS Debian Python Perl Systemd Glibc Xz Bzip2 Readline Ncurses Libffi Expat".split()
WORDS = "package depends library install upgrade release version fixes build security maintainer".split()


def text(rng: random.Random, i: int) -> str:
    names = rng.sample(NAMES, 3)
    return (
        f"Package pkg{i} depends on {names[0]} and {names[1]}. "
        + " ".join(rng.choice(WORDS) for _ in range(60))
        + f". Maintained with {names[2]} by the Debian Team."
    )


def run(label: str, priorities: dict[str, int], args: argparse.Namespace, user) -> dict[str, float]:
    rng = random.Random(args.seed)
    workspace = core_services.workspace_create(name=f"{WORKSPACE_PREFIX}{label}-{os.getpid()}", owner=user)
    while outbox.relay(batch_size=500).processed:  # whatever an earlier run left due
        pass
    waits_seconds: list[float] = []
    relayed = 0
    pending: list[tuple[list[int], int, float]] = []
    py, pg = time.process_time(), backend_cpu(missing_ok=True)

    def settle() -> None:
        still = []
        for ids, at, started in pending:
            ready = Document.objects.filter(pk__in=ids, status=Document.Status.READY).count()
            if ready == len(ids):
                waits_seconds.append(time.perf_counter() - started)
            else:
                still.append((ids, at, started))
        pending[:] = still

    try:
        with override_settings(STRATA_OUTBOX_PRIORITIES=priorities):
            for start in range(0, args.docs, args.batch):
                items = [
                    IngestItem(external_id=f"d{i}", title=f"pkg{i}", text=text(rng, i))
                    for i in range(start, min(start + args.batch, args.docs))
                ]
                report = document_ingest(workspace_id=workspace.pk, items=items, embed=False)
                pending.append(([r.document_id for r in report.results], relayed, time.perf_counter()))
                relayed += outbox.relay(batch_size=args.relay_per_batch).processed
                settle()
            while pending:
                done = outbox.relay(batch_size=args.relay_per_batch).processed
                relayed += done
                settle()
                if not done and pending:
                    raise SystemExit(f"{label}: the outbox ran dry with {len(pending)} batch(es) not embedded")
            while outbox.relay(batch_size=500).processed:  # what is left (graph and fact events)
                pass
        py, pg = time.process_time() - py, backend_cpu(missing_ok=True) - pg
        relayed_total = OutboxEvent.objects.filter(workspace_id=workspace.pk).count()
        # exact: the events delivered between each batch's ingest and its embedding event's delivery
        events = OutboxEvent.objects.filter(workspace_id=workspace.pk)
        ahead = [
            events.filter(delivered_at__gt=e.created_at, delivered_at__lt=e.delivered_at).count()
            for e in events.filter(event_type=EVENT_INGESTED)
        ]
    finally:
        cleanup(workspace)
    return {
        "events_p50": statistics.median(ahead),
        "events_max": max(ahead),
        "wait_p50": statistics.median(waits_seconds),
        "wait_p95": percentile(waits_seconds, 0.95),
        "cpu_per_event_ms": (py + pg) / max(relayed_total, 1) * 1000,
        "events": relayed_total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--relay-per-batch", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the relay's line per delivered event
    call_command("migrate", verbosity=0)
    for leftover in Workspace.objects.filter(name__startswith=WORKSPACE_PREFIX):
        cleanup(leftover)
    user = get_user_model().objects.create_user(username=f"obench-{os.getpid()}-{time.time_ns()}")
    print(f"load average before: {load_average()}")
    results = {}
    for label, priorities in (("fifo", {}), ("priorities", None)):
        from django.conf import settings

        chosen = dict(settings.STRATA_OUTBOX_PRIORITIES) if priorities is None else priorities
        results[label] = run(label, chosen, args, user)
        r = results[label]
        print(
            f"{label:10s} STRATA_OUTBOX_PRIORITIES={chosen}: events delivered between a batch's ingest and "
            f"its embedding event p50 {r['events_p50']:.0f}, max {r['events_max']:.0f}; wall wait p50 "
            f"{ms(r['wait_p50'])}, p95 {ms(r['wait_p95'])}; {r['events']:,} events, CPU "
            f"{r['cpu_per_event_ms']:.2f} ms per event (this process + its PostgreSQL backend)"
        )
    print(f"load average after: {load_average()}")
    fifo, prio = results["fifo"], results["priorities"]
    print(f"ratio fifo/priorities of the p50 wait in events: {fifo['events_p50'] / max(prio['events_p50'], 1):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
