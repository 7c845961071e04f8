"""Worker kills and Redis restarts while the worker embeds (issue 6, fault suite): real Celery
worker processes (with beat) on a throwaway Redis broker, killed with SIGKILL (the pool
processes, or the whole worker, which is then started again) and a Redis that is restarted
(SIGTERM, or kill -9) at seeded random moments. At the end every chunk is embedded exactly once:
one vector per chunk in the workspace's collection, none without a chunk, every document ready,
and every ingest event delivered once (one delivery row per handler)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from content import services, stores
from content.models import Document
from content.services import IngestItem
from core import services as core_services
from core.models import OutboxDelivery, OutboxEvent
from tests.fault.invariants import check_workspace
from tests.redis_server import ThrowawayRedis

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SEED = 8


class Worker:
    def __init__(self, log: Path, redis: ThrowawayRedis) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "STRATA_DB_NAME": settings.DATABASES["default"]["NAME"],
            "REDIS_URL": redis.url,
            "STRATA_OUTBOX_RELAY_INTERVAL": "0.5",
            "STRATA_OUTBOX_BACKOFF_SECONDS": "0.2",
            "STRATA_OUTBOX_MAX_ATTEMPTS": "30",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "celery", "-A", "core", "worker", "--beat", "--pool=prefork", "--concurrency=2"),
                    *("--loglevel=INFO", f"--schedule={log.parent / 'celerybeat-schedule'}"),
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pool(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def kill_pool(self) -> None:
        for child in self.pool():
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def test_worker_kills_and_redis_restarts_while_embedding(tmp_path, django_user_model):
    run_faults(tmp_path, django_user_model, documents=80, faults=4)


@pytest.mark.slow
def test_many_worker_kills_and_redis_restarts_while_embedding(tmp_path, django_user_model):
    run_faults(tmp_path, django_user_model, documents=300, faults=16)


def run_faults(tmp_path: Path, django_user_model, *, documents: int, faults: int) -> None:
    rng = random.Random(SEED)
    redis = ThrowawayRedis(tmp_path / "redis").start(persistent=True)
    owner = django_user_model.objects.create_user(username="wanda")
    workspace = core_services.workspace_create(name="Worker faults", owner=owner)
    log = tmp_path / "worker.log"
    worker = Worker(log, redis)
    done: dict[str, int] = {}
    try:
        text = " ".join(f"Sentence {s} about herons, egrets and their wetland habitat." for s in range(300))
        for start in range(0, documents, 10):  # one outbox event per batch of ten documents
            services.document_ingest(
                workspace_id=workspace.pk,
                items=[IngestItem(f"doc-{n}", f"Document {n}", f"{n}. {text}") for n in range(start, start + 10)],
            )
        events = list(OutboxEvent.objects.filter(workspace_id=workspace.pk).values_list("id", flat=True))

        def ready() -> int:
            return Document.objects.filter(workspace=workspace, status=Document.Status.READY).count()

        deadline = time.monotonic() + 600
        progress: list[int] = []  # documents ready at each fault
        kinds = ["pool", "worker", "redis-stop", "redis-kill"]
        while not ready():  # the worker has started and embeds
            assert time.monotonic() < deadline and worker.process.poll() is None, log.read_text()[-4000:]
            time.sleep(0.05)
        for fault in range(faults):
            time.sleep(rng.uniform(0.1, 1.0))
            kind = kinds[fault % len(kinds)]
            if kind == "pool":
                worker.kill_pool()
            elif kind == "worker":
                worker.kill()
                worker = Worker(log, redis)
            elif kind == "redis-stop":
                redis.stop()
                time.sleep(rng.uniform(0.2, 1.0))
                redis.start(persistent=True)
            else:
                redis.kill()
                time.sleep(rng.uniform(0.2, 1.0))
                redis.start(persistent=True)
            done[kind] = done.get(kind, 0) + 1
            progress.append(ready())
            check_workspace(workspace.pk)  # consistent at any moment, not only at the end
        while ready() < documents:
            assert time.monotonic() < deadline, f"{ready()} of {documents} ready\n{log.read_text()[-4000:]}"
            assert worker.process.poll() is None, log.read_text()[-4000:]
            time.sleep(0.5)

        counts = check_workspace(workspace.pk)
        assert counts["vectors"] == counts["chunks"] > documents  # every chunk once, and more than one per document
        delivered = OutboxEvent.objects.filter(id__in=events, status=OutboxEvent.Status.DELIVERED).count()
        assert delivered == len(events)
        runs = OutboxDelivery.objects.filter(event_id__in=events, handler="content.embed_ingested_documents")
        assert runs.count() == len(events)  # each event's embedding committed once
        assert done == {kind: faults // len(kinds) for kind in kinds}
        print(f"worker faults: {done}; documents ready at each fault: {progress} of {documents}")
        assert sum(0 < n < documents for n in progress) >= faults // 2, "most faults must hit the embedding"
    finally:
        worker.kill()
        redis.kill()
        for document_id in Document.objects.filter(workspace=workspace).values_list("id", flat=True):
            services.document_delete(workspace_id=workspace.pk, document_id=document_id)
        for collection in stores.vectors().list_collections():
            if collection.name.startswith(f"content.ws{workspace.pk}."):
                stores.vectors().drop_collection(collection.name)
