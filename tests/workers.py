"""A REAL Celery worker process (``celery -A core worker``) for tests, on the test database and the
test Redis database, loading tests/outbox_handlers.py. Tests that use ``start_worker`` are
``transaction=True`` so the worker sees committed rows; the worker is stopped before
pytest-django flushes the tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class Worker:
    def __init__(self, process: subprocess.Popen, hostname: str, log: Path) -> None:
        self.process, self.hostname, self.log = process, hostname, log

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- worker {self.hostname} log (tail) ---\n{self.log_tail()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"the worker exited with code {self.process.returncode}")
            if celery_app.control.ping(destination=[self.hostname], timeout=0.5):
                return
        self.fail(f"the worker did not answer a ping within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM); SIGKILL to the worker's process group if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        try:  # pool children left behind by a crash, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def start_worker(transactional_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start ``celery -A core worker`` processes; all are stopped at teardown, before the
    test database is flushed (this fixture depends on ``transactional_db``)."""
    db_name = connection.settings_dict["NAME"]
    assert db_name.startswith("test_") and not db_name.startswith("test_test_"), db_name
    workers: list[Worker] = []

    def start(*, beat: bool = False, concurrency: int = 2, env: dict[str, str] | None = None) -> Worker:
        hostname = f"strata-test-{uuid.uuid4().hex[:8]}@localhost"
        log = tmp_path / f"worker-{len(workers)}.log"
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings"),
            "STRATA_DB_NAME": db_name,  # already test_-prefixed; the worker is not a test runner
            "STRATA_REDIS_DB": os.environ["STRATA_REDIS_DB"],  # set by tests/settings.py
            "STRATA_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
            "STRATA_OUTBOX_HANDLER_MODULES": "tests.outbox_handlers",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "core",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            command += ["--beat", f"--schedule={tmp_path / 'celerybeat-schedule'}"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = Worker(process, hostname, log)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(worker: Worker, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if done():
            return
        if worker.process.poll() is not None:
            worker.fail(f"the worker died while waiting for {what}")
        time.sleep(0.2)
    worker.fail(f"timed out after {DELIVERY_TIMEOUT:.0f} s waiting for {what}")
