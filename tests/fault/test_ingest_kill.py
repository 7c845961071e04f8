"""kill -9 of `manage.py ingest` at random points, of the command and of its PostgreSQL backend
(issue 6, fault suite): after every kill the workspace is consistent across rows, documents,
vectors and graph (tests/fault/invariants.py), a killed backend is reported in plain words, and
a final run stores exactly what is missing.

The kill points are seeded (reproducible) and spread over the time a full run takes here."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from content import services, stores
from content.models import Document
from core.services import workspace_create
from tests.fault.invariants import check_workspace

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 6


def write_corpus(directory: Path, documents: int, files: int, version: int = 0) -> Path:
    """``documents`` JSONL documents in ``files`` files; every document's text names ``version``,
    so writing the corpus with a new version changes all of them."""
    directory.mkdir(exist_ok=True)
    per_file = documents // files
    for f in range(files):
        lines = [
            json.dumps(
                {
                    "external_id": f"doc-{f}-{n}",
                    "title": f"Document {f}-{n}",
                    "text": " ".join(f"Sentence {s} of document {f}-{n}, version {version}." for s in range(12)),
                    "metadata": {"file": f, "n": n},
                }
            )
            for n in range(per_file)
        ]
        (directory / f"part-{f:02d}.jsonl").write_text("\n".join(lines) + "\n")
    return directory


def ingest(corpus: Path, workspace_slug: str, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRATA_DB_NAME": settings.DATABASES["default"]["NAME"],
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "ingest", str(corpus), "--workspace", workspace_slug, "-v", "0", *extra],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def other_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return [pid for (pid,) in cursor.fetchall()]


def wait_for_backend(process: subprocess.Popen) -> float:
    """Wait until the command has connected to the database (or exited); returns the time."""
    deadline = time.monotonic() + 60
    while not other_backends() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return time.monotonic()


def terminate_backends() -> int:
    pids = other_backends()
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    return len(pids)


def clean_up(workspace_id: int) -> None:
    """Graph nodes and HNSW collections outlive Django's flush: remove them through the ports."""
    for document_id in Document.objects.filter(workspace_id=workspace_id).values_list("id", flat=True):
        services.document_delete(workspace_id=workspace_id, document_id=document_id)
    for collection in stores.vectors().list_collections():
        if collection.name.startswith(f"content.ws{workspace_id}."):
            stores.vectors().drop_collection(collection.name)


def run_trials(tmp_path: Path, user, *, trials: int, documents: int, files: int, batch: int, embed: bool) -> None:
    corpus = write_corpus(tmp_path / "corpus", documents, files)
    extra = ["--batch-size", str(batch), *(["--embed"] if embed else [])]
    rng = random.Random(SEED)
    # how long a full run takes here, measured on a workspace of its own
    timing = workspace_create(name="Timing", owner=user)
    workspace = workspace_create(name="Kill trials", owner=user)
    try:
        full = ingest(corpus, timing.slug, *extra)
        started = wait_for_backend(full)
        while other_backends():  # the command's database work: from its first query to its last
            time.sleep(0.01)
        duration = time.monotonic() - started
        out, err = full.communicate(timeout=300)
        assert full.returncode == 0, err
        assert check_workspace(timing.pk)["documents"] == documents

        kills = {"command": 0, "backend": 0, "finished": 0}
        for trial in range(trials):
            how = "command" if trial % 2 == 0 else "backend"
            write_corpus(corpus, documents, files, version=trial + 1)  # every document changes
            process = ingest(corpus, workspace.slug, *extra)
            wait_for_backend(process)
            time.sleep(rng.uniform(0, duration))
            if how == "command":
                process.send_signal(signal.SIGKILL)
            else:
                terminate_backends()
            out, err = process.communicate(timeout=300)
            if process.returncode == 0:
                kills["finished"] += 1  # the kill came after the end
            elif how == "command":
                assert process.returncode == -signal.SIGKILL
                kills["command"] += 1
            else:
                assert process.returncode == 1, err
                assert "lost the connection to PostgreSQL while ingesting" in err, err
                assert "Re-running the same command is safe" in err
                assert "Traceback" not in err, err
                kills["backend"] += 1
            check_workspace(workspace.pk)

        # the last run completes what the kills interrupted, and counts exactly: each document is
        # either new or stored at an earlier version
        stored_before = Document.objects.filter(workspace=workspace).count()
        write_corpus(corpus, documents, files, version=trials + 1)
        done = ingest(corpus, workspace.slug, *extra)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
        assert out.strip() == f"added {documents - stored_before}, updated {stored_before}, unchanged 0, failed 0"
        assert check_workspace(workspace.pk)["documents"] == documents
        again = ingest(corpus, workspace.slug, *extra)
        out, err = again.communicate(timeout=300)
        assert out.strip() == f"added 0, updated 0, unchanged {documents}, failed 0", err
        print(f"kill trials: {kills}")
        assert kills["command"] + kills["backend"] >= trials * 3 // 4, kills  # most trials really interrupted
    finally:
        clean_up(timing.pk)
        clean_up(workspace.pk)


def test_kill_9_of_ingest_and_of_its_backend_at_random_points(tmp_path, user):
    run_trials(tmp_path, user, trials=20, documents=600, files=4, batch=30, embed=False)


@pytest.mark.slow
def test_kill_9_of_a_bulk_ingest_with_embeddings_at_random_points(tmp_path, user):
    run_trials(tmp_path, user, trials=40, documents=2000, files=8, batch=100, embed=True)
