"""The child process of tests/fault/test_projection_kill.py: ingests batches (new documents, updates
and deletions, half of them embedded in the ingest, half left to the worker) into a workspace
and relays the outbox, until it is killed. Its stores: STRATA_VECTOR_STORE=qdrant (local mode)
and STRATA_GRAPH_STORE=falkordb from the environment the test gives it."""

from __future__ import annotations

import os
import sys

import django


def main(workspace_id: int, first: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from content import services
    from content.models import Document
    from core import outbox

    n = first
    while True:
        items = [
            services.IngestItem(f"k{n}-{j}", f"Kill {n} {j}", f"heron egret batch {n} item {j}. " * 3) for j in range(4)
        ]
        if n > first:
            items.append(services.IngestItem(f"k{n - 1}-0", f"Kill {n - 1} 0", f"updated in batch {n}. " * 3))
        services.document_ingest(workspace_id=workspace_id, items=items, embed=n % 2 == 0)
        victim = Document.objects.filter(workspace_id=workspace_id, external_id=f"k{n - 1}-1").first()
        if victim is not None:
            services.document_delete(workspace_id=workspace_id, document_id=victim.pk)
        outbox.relay(batch_size=3)
        print(f"batch {n}", flush=True)
        n += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
