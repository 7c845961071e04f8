"""Storage bench: the content app on PostgreSQL (pgvector + AGE) and on dedicated adapters
(Qdrant's local mode + FalkorDB) side by side, and the time ``storage_move`` takes to move the
vectors and the graph of ``--docs`` documents.

    ./strata bench storage [--docs 50000] [--extra 2000] [--queries 200]

In its own database (STRATA_DB_NAME, default ``strata_bench``; migrated on start) and its own
workspace, with the hashing embedder:

1. ingests ``--docs`` documents (``embed=True``, batches of 500) with PostgreSQL serving
   everything, and times ``--queries`` semantic searches and document-graph reads;
2. moves content's vectors to Qdrant and its graph to FalkorDB with ``storage_move`` (grace 0):
   wall time per move, items per second;
3. ingests ``--extra`` more documents with the dedicated adapters (the projections from the
   outbox, relayed in this process: included in the time) and times the same reads.

CPU time per operation is this process's plus the PostgreSQL backend's and the embedded FalkorDB
server's (from /proc), so in-process Qdrant and out-of-process servers count alike. Wall times
are noisy on a shared machine; compare the ratios of one run. Everything it creates is deleted.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")
os.environ.setdefault("STRATA_EMBEDDING_PROVIDER", "hashing")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.content_bench import delete_content  # noqa: E402
from content import selectors, services, stores  # noqa: E402
from content.models import Document  # noqa: E402
from core import outbox  # noqa: E402
from core import services as core_services  # noqa: E402
from core.embedded.daemons import server_pid  # noqa: E402
from core.embedded.falkordb import falkordb_pid_file  # noqa: E402
from core.models import AuditEntry, StorageMove, StorageRoute, Workspace  # noqa: E402
from core.storage import routing, storages  # noqa: E402
from core.storage.ports import NodeRef  # noqa: E402
from core.storage.qdrant.client import close_local_clients  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")
WORDS = (
    "heron egret plover nebula quasar pulsar sourdough yeast flour hull keel rudder mast sail anchor "
    "galaxy telescope orbit comet photon marsh feather beak nest migration crust knead oven rye"
).split()


def _proc_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Cpu:
    """CPU seconds of this process + the PostgreSQL backend + the embedded FalkorDB server."""

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        self.falkordb = server_pid(falkordb_pid_file())

    def now(self) -> float:
        return time.process_time() + _proc_cpu(self.backend) + _proc_cpu(self.falkordb)


def documents(start: int, count: int, rng: random.Random) -> list[services.IngestItem]:
    return [
        services.IngestItem(
            f"s{n}",
            f"Storage bench {n}",
            " ".join(" ".join(rng.sample(WORDS, 8)) + f" number {n}." for _ in range(4)),
            metadata={"n": n},
        )
        for n in range(start, start + count)
    ]


def ingest(workspace_id: int, items: list[services.IngestItem], cpu: Cpu) -> tuple[float, float]:
    wall, used = time.perf_counter(), cpu.now()
    for start in range(0, len(items), 500):
        services.document_ingest(workspace_id=workspace_id, items=items[start : start + 500], embed=True)
        while outbox.relay().processed:  # dedicated stores: their projections, from the outbox
            pass
    return time.perf_counter() - wall, cpu.now() - used


def reads(workspace_id: int, doc_ids: list[int], queries: int, rng: random.Random, cpu: Cpu) -> dict[str, float]:
    vectors, graph = stores.vectors(), stores.graph()
    model = services.workspace_embedding_model(workspace_id=workspace_id)
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    from content.embeddings import get_embedder

    embedder = get_embedder()
    texts = [" ".join(rng.sample(WORDS, 4)) for _ in range(queries)]
    matrix = embedder.embed(texts)
    found: dict[str, float] = {}
    for name, run in (
        ("vector search (k=10)", lambda i: vectors.search(collection, matrix[i], k=10, model=model)),
        ("graph node by key", lambda i: graph.get_node(NodeRef(stores.GRAPH_LABEL, str(rng.choice(doc_ids))))),
        (
            "semantic search page (selector, uncached)",
            lambda i: selectors.search(workspace_id=workspace_id, query=f"{texts[i]} q{i}", mode="semantic", limit=20),
        ),
    ):
        times, used = [], cpu.now()
        for i in range(queries):
            started = time.perf_counter()
            run(i)
            times.append(time.perf_counter() - started)
        found[f"{name} p50 ms"] = statistics.median(times) * 1000
        found[f"{name} CPU ms/op"] = (cpu.now() - used) / queries * 1000
    return found


def move(kind: str, target: str, cpu: Cpu) -> tuple[float, float, int]:
    wall, used = time.perf_counter(), cpu.now()
    out = io.StringIO()
    call_command("storage_move", "content", kind, "--to", target, "--grace", "0", stdout=out, stderr=io.StringIO())
    elapsed, spent = time.perf_counter() - wall, cpu.now() - used
    moved = StorageMove.objects.filter(app="content", kind=kind).order_by("-id").first()
    copied = moved.copied
    steps = list(
        AuditEntry.objects.filter(object_type="core.StorageMove", object_id=str(moved.pk))
        .order_by("id")
        .values_list("action", "created_at")
    )
    times = [moved.started_at] + [at for _, at in steps]
    print(
        "     steps: "
        + ", ".join(
            f"{action.rsplit('.', 1)[1]} {(at - before).total_seconds():.1f} s"
            for (action, at), before in zip(steps, times, strict=False)
        )
    )
    if "3. verify" not in out.getvalue() or "OK" not in out.getvalue():
        raise SystemExit(f"the move of {kind} did not verify:\n{out.getvalue()}")
    return elapsed, spent, copied


def cleanup(workspace: Workspace, qdrant_dir: str) -> None:
    """Delete the workspace's content from every backend, the routes and moves, the workspace."""
    vector_stores = [storages.backend("content", "vectors", alias) for alias in routing.backends("content", "vectors")]
    delete_content(workspace.pk, vector_stores=vector_stores, graph=storages.backend("content", "graph", "age"))
    storages.backend("content", "graph", "falkordb").drop_graph()
    StorageRoute.objects.filter(app="content").delete()
    StorageMove.objects.filter(app="content").delete()
    workspace.delete()
    close_local_clients()
    shutil.rmtree(qdrant_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--extra", type=int, default=2_000, help="documents ingested after the move")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    assert settings.DATABASES["default"]["NAME"] != "strata", "run it on a bench database (STRATA_DB_NAME)"
    call_command("migrate", verbosity=0)
    if StorageRoute.objects.filter(app="content").exists():
        raise SystemExit("content has storage routes in this database already; use a fresh bench database")

    qdrant_dir = tempfile.mkdtemp(prefix="strata-bench-qdrant-")
    graph_name = f"bench_{uuid.uuid4().hex[:10]}"
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "content": {
            "vectors": {
                "DEFAULT": "postgres",
                "postgres": {"BACKEND": "core.storage.postgres.vectors.PostgresVectorStore"},
                "qdrant": {"BACKEND": "core.storage.qdrant.QdrantVectorStore", "path": qdrant_dir},
            },
            "graph": {
                "DEFAULT": "age",
                "age": {"BACKEND": "core.storage.postgres.age.AgeGraphStore"},
                "falkordb": {"BACKEND": "core.storage.falkordb.FalkorGraphStore", "graph": graph_name},
            },
        },
    }
    settings.STRATA_STORAGE_ROUTE_TTL = 0.0
    storages.reset()
    routing.clear_cache()
    user = get_user_model().objects.create_user(f"storage-bench-{uuid.uuid4().hex[:8]}")
    workspace = core_services.workspace_create(name=f"storage bench {uuid.uuid4().hex[:6]}", owner=user)
    rng = random.Random(args.seed)
    cpu = Cpu()
    rows: dict[str, dict[str, float]] = {}
    try:
        print(f"1. PostgreSQL: ingesting {args.docs:,} documents (embed=True, batches of 500)", flush=True)
        wall, spent = ingest(workspace.pk, documents(0, args.docs, rng), cpu)
        print(f"   {wall:.1f} s = {args.docs / wall:,.0f} docs/s; CPU {spent / args.docs * 1000:.2f} ms/doc")
        doc_ids = list(Document.objects.filter(workspace_id=workspace.pk).values_list("id", flat=True))
        rows["postgres"] = reads(workspace.pk, doc_ids, args.queries, rng, cpu)
        wall_x, spent_x = ingest(workspace.pk, documents(args.docs, args.extra, rng), cpu)
        rows["postgres"]["ingest docs/s"] = args.extra / wall_x
        rows["postgres"]["ingest CPU ms/doc"] = spent_x / args.extra * 1000

        print("2. storage_move (grace 0)", flush=True)
        for kind, target in (("vectors", "qdrant"), ("graph", "falkordb")):
            wall, spent, copied = move(kind, target, cpu)
            print(
                f"   content {kind} -> {target}: {copied:,} items in {wall:.1f} s "
                f"({copied / wall:,.0f} items/s; CPU {spent:.1f} s)",
                flush=True,
            )

        print(f"3. dedicated: ingesting {args.extra:,} more documents and reading", flush=True)
        wall, spent = ingest(workspace.pk, documents(args.docs + args.extra, args.extra, rng), cpu)
        doc_ids = list(Document.objects.filter(workspace_id=workspace.pk).values_list("id", flat=True))
        rows["dedicated"] = reads(workspace.pk, doc_ids, args.queries, rng, cpu)
        rows["dedicated"]["ingest docs/s"] = args.extra / wall
        rows["dedicated"]["ingest CPU ms/doc"] = spent / args.extra * 1000

        print(f"\n{'':48} {'PostgreSQL':>12} {'dedicated':>12} {'ratio':>8}")
        for name in rows["postgres"]:
            pg, ded = rows["postgres"][name], rows["dedicated"][name]
            print(f"{name:48} {pg:12.2f} {ded:12.2f} {ded / pg if pg else float('nan'):8.2f}")
    finally:
        cleanup(workspace, qdrant_dir)
        user.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
