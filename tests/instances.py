"""Separate Strata instances for the command tests: each its own data dir, so its own embedded
PostgreSQL and Redis (both listen on sockets inside the data dir), never the servers the test
run shares."""

from __future__ import annotations

import http.cookiejar
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
from pathlib import Path

import psutil
import redis

from core import embedded

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = embedded.data_dir()
# Variables of the test run that must not leak into a separate instance.
NOT_INHERITED = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "STRATA_DB_NAME",
    "STRATA_REDIS_DB",
    "STRATA_CACHE_PREFIX",
    "STRATA_DATA_DIR",
    "XDG_RUNTIME_DIR",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
    "PYTEST_ADDOPTS",
}
START_SERVERS = "from core.embedded import postgres, redis; postgres.ensure_postgres(); redis.ensure_redis()"
STOP_SERVERS = "from core.embedded import postgres, redis; postgres.stop_postgres(); redis.stop_redis()"
STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(condition: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Instance:
    """A separate embedded PostgreSQL + Redis in its own data dir."""

    data_dir: Path
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

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis" / "redis.sock"

    def redis(self, db: int = 0) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.redis_socket), db=db, socket_timeout=2, socket_connect_timeout=2)

    def redis_answers(self) -> bool:
        client = self.redis()
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    @property
    def broker_url(self) -> str:
        return f"redis+socket://{self.redis_socket}?virtual_host=0"


def make_instance() -> Iterator[Instance]:
    data_dir = Path(tempfile.mkdtemp(prefix="strata-t-")).resolve()
    assert data_dir != SHARED_DATA_DIR  # never the shared servers
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("STRATA_EMBEDDED_")}
    env.update(STRATA_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="core.settings", PYTHONUNBUFFERED="1")
    instance = Instance(data_dir, env)
    try:
        yield instance
    finally:
        instance.python(STOP_SERVERS)
        shutil.rmtree(data_dir, ignore_errors=True)


class Run:
    """``strata_run`` (or ``./strata run``) in a subprocess, its output collected line by line."""

    def __init__(self, instance: Instance, *args: str, argv: list[str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        command = argv or [sys.executable, "manage.py", "strata_run"]
        self.process = subprocess.Popen(
            [*command, "--addr", f"127.0.0.1:{self.port}", *args],
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

    def banner(self) -> str | None:
        """The start-up banner (between two rules of '='), once it has been printed."""
        match = re.search(r"^={20,}\n(.*?)\n={20,}$", self.output, re.M | re.S)
        return match.group(1) if match else None

    def wait_until_up(self, *, children: set[str]) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"strata_run exited early ({self.process.returncode}):\n{self.output}")
            return set(self.child_pids()) == children and self.banner() is not None

        wait_for(ready, "the start-up banner")
        assert self.status("/accounts/login/") == 200, self.output

    def kill_leftovers(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in self.child_pids().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def log_in(run: Run, username: str, password: str) -> str | None:
    """Log in through the login form; the home page's HTML, or None when the login was refused."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    login = opener.open(f"{run.base}/accounts/login/", timeout=5).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
    with opener.open(f"{run.base}/accounts/login/", urllib.parse.urlencode(form).encode(), timeout=5) as response:
        if response.url != f"{run.base}/":
            return None
        return response.read().decode()


def processes_in_groups(pgids: set[int]) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in pgids and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return left
