"""strata_status, strata_stop and strata_run.

strata_stop and strata_run run in subprocesses against a SEPARATE embedded PostgreSQL and
Redis (their own STRATA_DATA_DIR and Redis port), never against the servers the test run shares.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import psutil
import pytest
from celery import Celery
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core import embedded
from core.management.commands.strata_status import version_tuple
from core.models import OutboxEvent

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = embedded.data_dir()
SHARED_REDIS_PORT = embedded.redis_port()
# Variables of the test run that must not leak into a separate instance.
NOT_INHERITED = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "STRATA_DB_NAME",
    "STRATA_REDIS_DB",
    "STRATA_CACHE_PREFIX",
    "XDG_RUNTIME_DIR",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
}
START_SERVERS = "from core import embedded; embedded.ensure_postgres(); embedded.ensure_redis()"
STOP_SERVERS = "from core import embedded; embedded.stop_postgres(); embedded.stop_redis()"
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Instance:
    """A separate embedded PostgreSQL + Redis, in its own data dir and on its own port."""

    data_dir: Path
    redis_port: int
    env: dict[str, str] = field(default_factory=dict)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], env=self.env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
        )

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            env={**self.env, **env},
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def postgres_pid(self) -> int | None:
        pid_file = self.data_dir / "pgdata" / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0]) if pid_file.exists() else None

    def redis_pid(self) -> int | None:
        pid_file = self.data_dir / "redis" / "redis.pid"
        return int(pid_file.read_text().strip()) if pid_file.exists() else None


def _make_instance() -> Iterator[Instance]:
    data_dir = Path(tempfile.mkdtemp(prefix="strata-t-")).resolve()
    port = _free_port()
    assert data_dir != SHARED_DATA_DIR and port != SHARED_REDIS_PORT  # never the shared servers
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        STRATA_DATA_DIR=str(data_dir),
        STRATA_EMBEDDED_REDIS_PORT=str(port),
        DJANGO_SETTINGS_MODULE="core.settings",
        PYTHONUNBUFFERED="1",
    )
    instance = Instance(data_dir, port, env)
    try:
        yield instance
    finally:
        instance.python(STOP_SERVERS)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def separate_instance() -> Iterator[Instance]:
    yield from _make_instance()


@pytest.fixture(scope="module")
def run_instance() -> Iterator[Instance]:
    """Shared by the strata_run tests so the new cluster is created and migrated once."""
    yield from _make_instance()


# ---------------------------------------------------------------- strata_status


def _installed_versions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('vector', 'age')")
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_status_reports_real_versions():
    out = StringIO()
    call_command("strata_status", stdout=out)
    text = out.getvalue()

    versions = _installed_versions()
    assert versions["vector"].startswith("0.8.")
    assert versions["age"].startswith("1.7.")
    assert re.search(r"^PostgreSQL\s+ok\s+\d+\.\d+", text, re.M)
    assert re.search(rf"^\s+vector\s+{re.escape(versions['vector'])}$", text, re.M)
    assert re.search(rf"^\s+age\s+{re.escape(versions['age'])}$", text, re.M)
    assert re.search(r"^\s+graph\s+strata: present$", text, re.M)
    assert re.search(r"^Redis\s+ok\s+\d+\.\d+\.\d+\s+redis://", text, re.M)
    assert ("CVE-2026-3172" in text) == (version_tuple(versions["vector"]) < (0, 8, 2))
    assert re.search(r"^Outbox\s+0 pending, 0 dead", text, re.M)


@pytest.mark.django_db
def test_status_json_is_machine_readable():
    now = timezone.now()
    OutboxEvent.objects.create(event_type="test.waiting", available_at=now)
    OutboxEvent.objects.create(event_type="test.dead", status=OutboxEvent.Status.DEAD, available_at=now)
    out = StringIO()

    call_command("strata_status", "--json", stdout=out)
    report = json.loads(out.getvalue())

    versions = _installed_versions()
    pg = report["postgres"]
    assert pg["reachable"] is True
    assert pg["server_version"].split(".")[0].isdigit()
    assert pg["database"] == connection.settings_dict["NAME"]
    assert pg["extensions"] == {"vector": versions["vector"], "age": versions["age"]}
    assert pg["extensions"]["vector"].startswith("0.8.") and pg["extensions"]["age"].startswith("1.7.")
    assert pg["graph"] == {"name": "strata", "exists": True}
    assert any("CVE-2026-3172" in w for w in pg["warnings"]) == (version_tuple(versions["vector"]) < (0, 8, 2))
    assert report["redis"]["reachable"] is True
    assert re.fullmatch(r"\d+\.\d+\.\d+", report["redis"]["version"])
    assert isinstance(report["celery"]["workers"], list)
    assert (report["outbox"]["pending"], report["outbox"]["dead"]) == (1, 1)
    assert report["ok"] is True


def test_status_redacts_redis_password():
    from core.management.commands.strata_status import maybe_sanitize_url

    assert "s3cret" not in maybe_sanitize_url("redis://:s3cret@redis.example:6379/0")


def test_status_exits_non_zero_when_postgres_and_redis_are_unreachable(separate_instance):
    # nothing runs in the new data dir, and autostart is off: both are down
    result = separate_instance.manage("strata_status", "--json", STRATA_EMBEDDED_AUTOSTART="0")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["postgres"]["reachable"] is False and report["postgres"]["error"]
    assert report["redis"]["reachable"] is False and report["redis"]["error"]
    assert report["ok"] is False
    assert "unreachable: postgres, redis" in result.stderr
    # ... and looking did not start anything
    assert separate_instance.postgres_pid() is None and not _port_open(separate_instance.redis_port)


# ---------------------------------------------------------------- strata_stop


def test_stop_stops_a_separate_embedded_instance(separate_instance):
    started = separate_instance.python(START_SERVERS)
    assert started.returncode == 0, started.stderr
    pg_pid, redis_pid = separate_instance.postgres_pid(), separate_instance.redis_pid()
    assert pg_pid and redis_pid and not _gone(pg_pid) and not _gone(redis_pid)
    assert _port_open(separate_instance.redis_port)

    result = separate_instance.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")

    assert result.returncode == 0, result.stderr
    assert "PostgreSQL: stopped the embedded server" in result.stdout
    assert "Redis: stopped the embedded server" in result.stdout
    assert _gone(pg_pid) and _gone(redis_pid)
    assert not (separate_instance.data_dir / "pgdata" / "postmaster.pid").exists()
    assert not _port_open(separate_instance.redis_port)
    # the shared servers are untouched
    assert embedded.postgres_socket_dir() is not None or os.environ.get("DATABASE_URL")

    again = separate_instance.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")
    assert again.returncode == 0
    assert "PostgreSQL: the embedded server was not running" in again.stdout
    assert "Redis: the embedded server was not running" in again.stdout


def test_stop_leaves_external_servers_alone(separate_instance):
    result = separate_instance.manage(
        "strata_stop",
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing",
        REDIS_URL="redis://127.0.0.1:9/0",
        DJANGO_SECRET_KEY="test-only",
    )
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL: DATABASE_URL is set; there is no embedded server to stop." in result.stdout
    assert "Redis: REDIS_URL is set; there is no embedded server to stop." in result.stdout


# ---------------------------------------------------------------- strata_run


class Run:
    """strata_run in a subprocess, its output collected line by line."""

    def __init__(self, instance: Instance, *args: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "strata_run", "--addr", f"127.0.0.1:{self.port}", *args],
            env=instance.env,
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def child_pids(self) -> dict[str, int]:
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+\| started \(pid (\d+)\)", self.output, re.M)}

    def status(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.base + path, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def wait_until_up(self, *, children: set[str]) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"strata_run exited early ({self.process.returncode}):\n{self.output}")
            return set(self.child_pids()) == children and self.status("/accounts/login/") == 200

        _wait_for(ready, "the login page")

    def kill_leftovers(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in self.child_pids().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _worker_pings(instance: Instance) -> bool:
    app = Celery("strata-test-ping", broker=f"redis://127.0.0.1:{instance.redis_port}/0", set_as_current=False)
    try:
        return bool(app.control.ping(timeout=1.0))
    finally:
        app.close()


def _processes_in_groups(pgids: set[int]) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in pgids and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return left


def _log_in(run: Run, username: str, password: str) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    login = opener.open(f"{run.base}/accounts/login/", timeout=5).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
    with opener.open(f"{run.base}/accounts/login/", urllib.parse.urlencode(form).encode(), timeout=5) as response:
        assert response.url == f"{run.base}/", "login did not land on the home page"
        return response.read().decode()


@pytest.mark.worker
def test_strata_run_starts_everything_and_stops_on_sigterm(run_instance):
    run = Run(run_instance)
    try:
        run.wait_until_up(children={"web", "worker", "beat"})
        _wait_for(lambda: _worker_pings(run_instance), "the Celery worker to answer a ping")

        # a superuser with a generated password, printed once, and a default workspace
        passwords = re.findall(r'Created superuser "admin" with password: (\S+)', run.output)
        assert len(passwords) == 1
        home = _log_in(run, "admin", passwords[0])
        assert "<h1>Default workspace</h1>" in home
        assert run.status("/healthz") == 200

        children = run.child_pids()
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=45) == 0, run.output
    finally:
        run.kill_leftovers()

    assert all(_gone(pid) for pid in children.values()), run.output
    assert _processes_in_groups(set(children.values())) == []  # the worker's pool processes too
    assert not _port_open(run.port)
    assert "SIGTERM received; stopping" in run.output
    # the password is not stored in the data dir
    assert not any(passwords[0] in p.read_text(errors="ignore") for p in run_instance.data_dir.glob("*") if p.is_file())


@pytest.mark.worker
def test_strata_run_stops_everything_when_a_child_dies(run_instance):
    run = Run(run_instance, "--no-beat")
    try:
        run.wait_until_up(children={"web", "worker"})
        children = run.child_pids()

        os.kill(children["web"], signal.SIGKILL)
        assert run.process.wait(timeout=45) == 1, run.output
    finally:
        run.kill_leftovers()

    assert "web    | exited with status -9; stopping the others" in run.output
    assert all(_gone(pid) for pid in children.values())
    assert _processes_in_groups(set(children.values())) == []
