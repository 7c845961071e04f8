"""The content benchmark's bulk ingest stage (bench/content_bench.py, step 1): ``--docs``
documents through ``services.document_ingest_batches(embed=True)`` on ``--workers`` writer
threads into one staged bulk vector load, phase by phase (the batches, the index build and
swap, the documents marked ready), against one document at a time; CPU is this process's threads plus the
whole PostgreSQL server's (bench/common.server_cpu), since the work spans several connections."""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench.common import server_cpu
from bench.content_corpus import Corpus
from content import services, stores
from content.embeddings import get_embedder
from content.models import Chunk, Document
from core.storage.ports import NodeRef

TARGET_DOCS_PER_SECOND = {"halfvec": 700, "binary": 1_000, "vector": 700}
TARGET_BULK_SPEEDUP = 10.0


def ingest_cpu() -> tuple[float, float]:
    """(this process's CPU, every thread; the whole PostgreSQL server's CPU): a bulk ingest
    writes on several connections, so one backend's figure would miss the others'."""
    return time.process_time(), server_cpu()


@dataclass
class Phase:
    """Wall and CPU seconds (this process's threads, the whole PostgreSQL server) of one phase."""

    wall: float
    py: float
    pg: float

    @property
    def cpu(self) -> float:
        return self.py + self.pg


class Clock:
    def __init__(self) -> None:
        self.mark = (time.perf_counter(), *ingest_cpu())

    def lap(self) -> Phase:
        now = (time.perf_counter(), *ingest_cpu())
        phase = Phase(*(b - a for a, b in zip(self.mark, now, strict=True)))
        self.mark = now
        return phase


def bulk_ingest(workspace_id: int, items: list, batch: int, workers: int) -> dict[str, Phase]:
    """Each phase of the bulk path: the batches (``workers`` threads, COPY of the vectors into
    the hidden copy included), the index build and swap, the documents marked ready."""
    clock = Clock()
    load = services.embedding_bulk_load(workspace_id=workspace_id, rows=len(items))
    assert load is not None and load.staged, "a load this large takes the staged path"
    batches = (items[start : start + batch] for start in range(0, len(items), batch))
    with closing(
        services.document_ingest_batches(
            workspace_id=workspace_id, batches=batches, embed=True, bulk=load, workers=workers
        )
    ) as outcomes:
        for outcome in outcomes:
            report = outcome.get()
            assert not report.failed, report.failed[:3]
    phases = {"batches": clock.lap()}
    load.swap()  # what load.finish() does first: vanished chunks' vectors dropped, build, swap
    phases["index build and swap"] = clock.lap()
    load.finish(workers=workers)  # the documents ready (their chunks were written carrying the model)
    phases["documents ready"] = clock.lap()
    return phases


def bench_ingest(workspace_id: int, corpus: Corpus, args: argparse.Namespace, results: list, index: str) -> None:
    settings.STRATA_VECTOR_INDEX = index  # the workspace's collection is created with this index
    first = ", vectors first (STRATA_INGEST_VECTORS_FIRST)" if settings.STRATA_INGEST_VECTORS_FIRST else ""
    print(
        f"\n1. ingest through services.document_ingest_batches(embed=True), {index} index{first} "
        f"[{get_embedder().model}]"
    )
    items = corpus.items(f"bulk-{index}", args.docs)
    load0 = Path("/proc/loadavg").read_text().split()[0]
    phases = bulk_ingest(workspace_id, items, args.batch, args.workers)
    load1 = Path("/proc/loadavg").read_text().split()[0]
    n = len(items)
    seconds = sum(p.wall for p in phases.values())
    py, pg = sum(p.py for p in phases.values()), sum(p.pg for p in phases.values())
    cpu = py + pg
    bulk_rate = n / seconds
    chunks = Chunk.objects.filter(workspace_id=workspace_id).count()
    print(
        f"   bulk path: {n:>7,} docs ({chunks:,} chunks) in batches of {args.batch} on {args.workers} "
        f"writer thread(s), one {index} index build: {seconds:7.1f} s = {bulk_rate:8,.0f} docs/s, "
        f"{cpu / n * 1000:.2f} ms CPU/doc (Python {py / n * 1000:.2f} + PostgreSQL {pg / n * 1000:.2f}) = "
        f"{n / cpu:,.0f} docs per CPU-second; load average {load0} -> {load1}"
    )
    for name, p in phases.items():
        print(
            f"     {name:<22} {p.wall:7.1f} s wall, CPU {p.cpu / n * 1000:.2f} ms/doc (Python {p.py / n * 1000:.2f} "
            f"+ PostgreSQL {p.pg / n * 1000:.2f}) = {p.cpu / p.wall:.2f} cores busy"
        )
    # Arithmetic, not a measurement: the same CPU on 2 idle cores, the batches and the marking
    # spread over min(workers, 2) cores (Python's share of the batches needs the GIL: one core
    # at most), the build on one.
    cores = max(1, min(args.workers, 2))
    batches, build, marking = phases["batches"], phases["index build and swap"], phases["documents ready"]
    idle = max(batches.cpu / cores, batches.py) + build.cpu + marking.cpu / cores
    print(
        f"   on 2 idle cores this CPU would take about {idle:.1f} s = {n / idle:,.0f} docs/s "
        "(arithmetic from the CPU above, not measured)"
    )
    singles = corpus.items(f"single-{index}", args.single)
    started, (py0, pg0) = time.perf_counter(), ingest_cpu()
    for item in singles:
        report = services.document_ingest(workspace_id=workspace_id, items=[item], embed=True)
        assert not report.failed, report.failed
    single_seconds, (py1, pg1) = time.perf_counter() - started, ingest_cpu()
    single_cpu = (py1 - py0) + (pg1 - pg0)
    single_rate = len(singles) / single_seconds
    print(
        f"   one at a time (live index): {len(singles):>5,} docs: {single_seconds:7.1f} s = "
        f"{single_rate:8,.0f} docs/s, {single_cpu / len(singles) * 1000:.2f} ms CPU/doc (Python "
        f"{(py1 - py0) / len(singles) * 1000:.2f} + PostgreSQL {(pg1 - pg0) / len(singles) * 1000:.2f})"
    )
    ratio = bulk_rate / single_rate
    print(
        f"   bulk / one at a time: x{ratio:.1f} (CPU per doc: x{(single_cpu / len(singles)) / (cpu / len(items)):.1f})"
    )
    target = TARGET_DOCS_PER_SECOND.get(index, 700)
    results.append(
        (f"bulk ingest ({index}) >= {target:,} docs/s into all four models, build included", bulk_rate >= target)
    )
    results.append((f"bulk ingest ({index}) >= {TARGET_BULK_SPEEDUP:.0f}x one at a time", ratio >= TARGET_BULK_SPEEDUP))

    # every document is in all four models
    sample = Document.objects.filter(workspace_id=workspace_id, external_id__startswith="bulk-").order_by("?")
    sample = sample.values_list("id", flat=True)[:50]
    collection = stores.chunk_collection(workspace_id=workspace_id, model=get_embedder().model)
    assert not Document.objects.filter(workspace_id=workspace_id).exclude(status=Document.Status.READY).exists()
    for document_id in sample:
        assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document_id)) is not None
        assert stores.vectors().count(collection, filter={"document_id": document_id}) > 0
        assert stores.graph().get_node(NodeRef(stores.GRAPH_LABEL, str(document_id))) is not None
