"""kill -9 of a process that ingests, updates, deletes and relays the outbox with dedicated
adapters (Qdrant's local mode for vectors, FalkorDB for the graph: their projections are written
after the commit, from the outbox), at random points, again and again (issue 8 "Done when").
Once the outbox has delivered what the kills left pending, no projection is missing and none
is left over: every document's body and node once, every embedded chunk's vector once, nothing
of deleted documents or replaced chunks.

The child runs in its own process (the kills are real); Qdrant's local mode serves one process
at a time, so this test opens it only once the last child is dead."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection

from content.models import Chunk, Document
from core import outbox
from core.models import OutboxEvent
from core.storage import routing, storages
from core.storage.qdrant.client import close_local_clients
from tests.moving import stored

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 8
KILLS = 6


def child(workspace_id: int, first: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fault.projection_child", str(workspace_id), str(first)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_while_ingesting_with_dedicated_adapters(workspace, tmp_path, settings):
    graph = f"kill_{uuid.uuid4().hex[:10]}"
    qdrant = str(tmp_path / "qdrant")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRATA_DB_NAME": connection.settings_dict["NAME"],
        "STRATA_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "STRATA_VECTOR_STORE": "qdrant",
        "STRATA_QDRANT_PATH": qdrant,
        "STRATA_GRAPH_STORE": "falkordb",
        "STRATA_GRAPH_NAME": graph,
        "STRATA_OUTBOX_BACKOFF_SECONDS": "0.05",
        "STRATA_OUTBOX_MAX_ATTEMPTS": "100",
        "PYTHONUNBUFFERED": "1",
    }
    rng = random.Random(SEED)
    first, batches = 0, 0
    for _ in range(KILLS):
        process = child(workspace.pk, first, env)
        # kill it at a random point once it is past start-up (it prints after each batch)
        line = process.stdout.readline()
        assert line.startswith("batch"), (line, process.stderr.read() if process.poll() is not None else "")
        time.sleep(rng.uniform(0.05, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        out = line + process.stdout.read()
        batches += out.count("batch ")
        first += out.count("batch ") + 1  # the batch it was killed in may have committed: skip its ids
    assert batches >= KILLS

    # this process: the same dedicated backends, and the outbox delivered to the end
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "content": {
            "vectors": {"BACKEND": "core.storage.qdrant.QdrantVectorStore", "path": qdrant},
            "graph": {"BACKEND": "core.storage.falkordb.FalkorGraphStore", "graph": graph},
        },
    }
    settings.STRATA_OUTBOX_BACKOFF_SECONDS = 0.05
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 100
    storages.reset()
    try:
        deadline = time.monotonic() + 120
        while OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).exists():
            assert time.monotonic() < deadline, "the outbox did not settle"
            if not outbox.relay().processed:
                time.sleep(0.1)
        assert not OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).exists()
        counts = stored(workspace.pk)  # bodies, nodes and vectors match the rows, each once
        assert counts["documents"] == Document.objects.filter(workspace_id=workspace.pk).count() >= 4 * KILLS
        assert not Chunk.objects.filter(workspace_id=workspace.pk, embedding_model="").exists()
        assert counts["vectors"] == Chunk.objects.filter(workspace_id=workspace.pk).count()
        assert not Document.objects.filter(workspace_id=workspace.pk).exclude(status=Document.Status.READY).exists()
    finally:
        try:
            storages.backend("content", "graph", routing.default_alias("content", "graph")).drop_graph()
        except Exception:  # noqa: BLE001
            pass
        close_local_clients()
        storages.reset()
