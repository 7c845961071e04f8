"""Load benchmark of the running site: gunicorn (as `strata run` serves it) against Django's
development server (`strata run --dev`), measured side by side in the same run.

    STRATA_DB_NAME=strata_bench python bench/load_bench.py [--docs 2000] [--seconds 15] [--clients 8]

Creates its own user, workspace and ``--docs`` generated documents (embedded, so search is
hybrid: HNSW + full text) in the database named by STRATA_DB_NAME (migrated on start; default
``strata_bench``), starts both servers on free local ports on that database and the same Redis,
signs in once, and then for each server runs ``--clients`` concurrent clients for
``--seconds`` seconds per scenario:

1. cached document pages: GET /content/documents/<id>/ over ``--pages`` documents whose pages
   were requested once before (so each answer comes from Redis);
2. uncached search: GET /content/search/?q=<two random words of the corpus> (hybrid), every
   query new, so nothing comes from the cache.

Each client opens a new connection per request (gunicorn's sync workers close it anyway). It
prints requests per second, latency p50/p95, errors and the server processes' CPU time per
request (PostgreSQL's and Redis's CPU are not in it), the ratio gunicorn / development server,
and PASS/FAIL per target: cached document pages >= 300 req/s and uncached search >= 100 req/s
with gunicorn. Then it stops both servers and deletes everything it created.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")
os.environ.setdefault("STRATA_EMBEDDING_PROVIDER", "hashing")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

from bench.common import percentile, verdict  # noqa: E402
from bench.content_bench import WORKSPACE_PREFIX, Corpus, cleanup  # noqa: E402  (sets Django up)
from content import services  # noqa: E402
from content.models import Document  # noqa: E402
from core import services as core_services  # noqa: E402
from core.management.commands.strata_run import default_web_workers  # noqa: E402
from core.models import Workspace  # noqa: E402

TARGET_CACHED_PAGES = 300.0
TARGET_UNCACHED_SEARCH = 100.0
PROJECT_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], port: int) -> None:
        self.name, self.port = name, port
        self.process = subprocess.Popen(
            argv,
            cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while request(port, "GET", "/healthz")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start on port {port}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes (the master/main and its children)."""
        total = 0.0
        try:
            main = psutil.Process(self.process.pid)
            for proc in [main, *main.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def request(port: int, method: str, path: str, *, body: str = "", headers: dict | None = None) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), dict(response.getheaders())
    except OSError:
        return 0, "", {}
    finally:
        conn.close()


def log_in(port: int, username: str, password: str) -> str:
    """A signed-in session's Cookie header."""
    status, page, headers = request(port, "GET", "/accounts/login/")
    csrf = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    status, _, headers = request(
        port,
        "POST",
        "/accounts/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
    )
    session = re.search(r"sessionid=([^;]+)", headers.get("Set-Cookie", ""))
    if status != 302 or session is None:
        raise SystemExit(f"could not sign in on port {port} (status {status})")
    return f"sessionid={session.group(1)}; csrftoken={csrf}"


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.requests if self.requests else 0.0


def load(server: Server, paths, *, cookie: str, clients: int, seconds: float) -> Result:
    """``clients`` threads requesting ``paths()`` for ``seconds`` seconds."""
    result = Result()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        local: list[float] = []
        errors = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            status, _, _ = request(server.port, "GET", paths(), headers={"Cookie": cookie})
            local.append(time.perf_counter() - started)
            errors += status != 200
        with lock:
            result.latencies.extend(local)
            result.errors += errors

    cpu = server.cpu_seconds()
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    result.cpu = server.cpu_seconds() - cpu
    result.requests = len(result.latencies)
    return result


def report(name: str, fast: Result, dev: Result, target: float, results: list[tuple[str, bool]]) -> None:
    print(f"\n{name}")
    for label, r in (("gunicorn", fast), ("dev server", dev)):
        p50 = statistics.median(r.latencies) * 1000 if r.latencies else 0.0
        p95 = percentile(r.latencies, 0.95) * 1000 if r.latencies else 0.0
        print(
            f"   {label:<10} {r.rate:8.1f} req/s   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
            f"errors {r.errors:4d}   server CPU {r.cpu_ms:6.2f} ms/req   ({r.requests} requests)"
        )
    ratio = fast.rate / dev.rate if dev.rate else float("inf")
    print(f"   gunicorn / dev server: x{ratio:.1f}")
    results.append((f"{name}: >= {target:.0f} req/s with gunicorn ({fast.rate:.0f})", fast.rate >= target))
    results.append((f"{name}: no errors", fast.errors == 0 and dev.errors == 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000, help="documents in the workspace")
    parser.add_argument("--pages", type=int, default=300, help="distinct cached document pages requested")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per scenario and server")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=default_web_workers(), help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    logging.getLogger("content").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    for leftover in Workspace.objects.filter(name__startswith=WORKSPACE_PREFIX):
        cleanup(leftover)
    password = f"pw-{os.getpid()}-{time.time_ns()}"
    user = get_user_model().objects.create_user(username=f"bench-{os.getpid()}-{time.time_ns()}", password=password)
    workspace = core_services.workspace_create(name=f"{WORKSPACE_PREFIX}load {os.getpid()}", owner=user)
    corpus = Corpus(args.seed)
    started = time.perf_counter()
    for start in range(0, args.docs, 500):
        services.document_ingest(
            workspace_id=workspace.pk, items=corpus.items(f"load-{start}", min(500, args.docs - start)), embed=True
        )
    ids = list(Document.objects.filter(workspace=workspace).order_by("id").values_list("id", flat=True))
    print(
        f"database {connection.settings_dict['NAME']!r}: {len(ids)} documents ingested in "
        f"{time.perf_counter() - started:.0f} s; {args.clients} clients, {args.seconds:.0f} s per scenario; "
        f"gunicorn with {args.workers} workers on {len(os.sched_getaffinity(0))} cores"
    )
    connections.close_all()

    python, manage = sys.executable, str(PROJECT_DIR / "manage.py")
    gunicorn_port, dev_port = free_port(), free_port()
    servers = []
    results: list[tuple[str, bool]] = []
    try:
        fast = Server(
            "gunicorn",
            [python, "-m", "gunicorn", "core.wsgi:application", "--bind", f"127.0.0.1:{gunicorn_port}"]
            + ["--workers", str(args.workers), "--timeout", "120"],
            gunicorn_port,
        )
        servers.append(fast)
        dev = Server(
            "dev server", [python, manage, "runserver", "--noreload", "--insecure", f"127.0.0.1:{dev_port}"], dev_port
        )
        servers.append(dev)
        cookie = log_in(gunicorn_port, user.get_username(), password)

        rng = np.random.default_rng(args.seed)
        pages = [f"/content/documents/{i}/" for i in rng.choice(ids, min(args.pages, len(ids)), replace=False)]
        for path in pages:  # warm the cache (shared by both servers: same Redis)
            status, body, _ = request(gunicorn_port, "GET", path, headers={"Cookie": cookie})
            if status != 200:
                raise SystemExit(f"GET {path}: {status}\n{body[:2000]}")
        lock = threading.Lock()

        def page() -> str:
            with lock:
                return pages[int(rng.integers(len(pages)))]

        def search() -> str:
            with lock:
                words = " ".join(corpus.words[rng.integers(len(corpus.words), size=2)])
            return "/content/search/?" + urllib.parse.urlencode({"q": words})

        for name, paths, target in (
            ("1. cached document pages", page, TARGET_CACHED_PAGES),
            ("2. uncached search (hybrid)", search, TARGET_UNCACHED_SEARCH),
        ):
            measured = [
                load(server, paths, cookie=cookie, clients=args.clients, seconds=args.seconds) for server in servers
            ]
            report(name, measured[0], measured[1], target, results)
    finally:
        for server in servers:
            server.stop()
        cleanup(workspace)

    print()
    for name, ok in results:
        print(f"{verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
