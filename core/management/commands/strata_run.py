"""Start everything: migrate, make sure there is a superuser with a workspace, then run the
web server, a Celery worker and Celery beat as child processes with prefixed output.

    manage.py strata_run [--addr 127.0.0.1:8000] [--dev] [--web-workers N] [--no-worker] [--no-beat] [--no-migrate]

Once the web server answers an HTTP request and the worker and beat are up, a banner says where the site is,
how to log in (the generated password of the first superuser is kept in a 0600 file in the
data dir until its first login, see core/initial_password.py) and how to stop.
Ctrl-C or SIGTERM stops every child (SIGTERM first, SIGKILL after a grace period). When one
child dies on its own the others are stopped and the command exits with status 1.
The embedded PostgreSQL and Redis keep running afterwards; ``./strata stop`` stops them.

The web server is gunicorn, as in production: ``STRATA_WEB_WORKERS`` processes (default
2 x cores + 1), each serving one request at a time, so a slow request (a large upload) holds
one process while the others keep serving; static files come from WhiteNoise. ``--dev`` runs
Django's development server instead (one process, a thread per request).
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connections

from core import embedded, initial_password, selectors, services

DEFAULT_ADDR = "127.0.0.1:8000"
WEB_TIMEOUT_SECONDS = 120  # gunicorn restarts a worker stuck in one request longer than this
DEFAULT_WORKSPACE_NAME = "Default workspace"
STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.2
#: The banner waits this long at most for the children to say they are ready.
READY_TIMEOUT_SECONDS = 60.0
#: The page the banner waits for: it answers once a web process has loaded Django.
READY_PATH = "/healthz"


@dataclass
class Child:
    name: str
    argv: list[str]
    #: A line of the child's output that says it is ready (None: ready once started).
    ready_pattern: str | None = None
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)
    ready: threading.Event = field(default_factory=threading.Event, repr=False)
    stopping: bool = False
    reported: bool = False


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if strata_run itself is killed (e.g. SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Runs children until asked to stop or until one of them exits; then stops the rest."""

    def __init__(
        self,
        children: list[Child],
        out: OutputWrapper,
        *,
        env: dict[str, str],
        cwd: str,
        web_addr: tuple[str, int] | None = None,
        banner: str = "",
    ) -> None:
        self.children = children
        self.out = out
        self.env = env
        self.cwd = cwd
        self.web_addr = web_addr
        self.banner = banner
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._signal: int | None = None
        self.width = max(len(child.name) for child in children)

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{name:<{self.width}} | {line}")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[str]) -> None:
        pattern = re.compile(child.ready_pattern) if child.ready_pattern else None
        for line in stream:
            self.say(child.name, line.rstrip("\n"))
            if pattern is not None and not child.ready.is_set() and pattern.search(line):
                child.ready.set()

    def _web_answers(self, timeout: float) -> bool:
        """Whether the web server answers an HTTP request (any status) within ``timeout``.

        Not just a connection: gunicorn's master accepts connections as soon as it has bound the
        port, while its workers are still importing Django (seconds under load), so a connection
        alone would let the banner promise a site that does not answer yet."""
        if self.web_addr is None:
            return True
        host, port = self.web_addr
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", READY_PATH)
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _announce(self) -> None:
        """Print the banner last: once every child said it is ready and the web server answers a
        request (a web process has loaded Django and reached the database)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if all(child.ready.is_set() for child in self.children) and self._web_answers(timeout=min(left, 10.0)):
                break
            time.sleep(POLL_SECONDS)
        if self._stop.is_set() or not self.banner:
            return
        time.sleep(0.5)  # let the children's start-up lines that follow "ready" come out first
        with self._lock:
            if not self._stop.is_set():
                self.out.write(self.banner)
                self.out.flush()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Return 0 after a requested stop, 1 when a child exited on its own."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed: Child | None = None
        try:
            for child in self.children:
                # Own process group: a terminal's Ctrl-C reaches only us, and we stop the children in order.
                child.process = subprocess.Popen(
                    child.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                    env=self.env,
                    cwd=self.cwd,
                    process_group=0,
                    preexec_fn=_die_with_parent,
                )
            # Readers start after every fork (preexec_fn and threads do not mix).
            for child in self.children:
                assert child.process is not None and child.process.stdout is not None
                self.say(child.name, f"started (pid {child.process.pid}): {' '.join(child.argv[1:])}")
                if child.ready_pattern is None:
                    child.ready.set()
                child.reader = threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True)
                child.reader.start()
            threading.Thread(target=self._announce, daemon=True).start()
            while failed is None and not self._stop.wait(POLL_SECONDS):
                failed = next((c for c in self.children if c.process and c.process.poll() is not None), None)
        finally:
            self._stop.set()
            if failed is not None:
                self.say(failed.name, f"{_ending(failed)}; stopping the others")
                failed.reported = True
            elif self._signal is not None:
                what = "Ctrl-C" if self._signal == signal.SIGINT else signal.Signals(self._signal).name
                self.say("strata", f"{what} received; stopping {', '.join(c.name for c in self.children)}")
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed is not None else 0

    def stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.stopping = True
            child.process.terminate()  # the main process only: a Celery worker stops its own pool
        for child in running:
            try:
                child.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say(child.name, f"did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it")
        for child in self.children:
            if child.process is None:
                continue
            try:  # anything left in the child's process group (e.g. pool processes) goes too
                os.killpg(child.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=5)
            if not child.reported:
                self.say(child.name, _ending(child))


def _ending(child: Child) -> str:
    """How a child ended, in words: a stop we asked for is not an error."""
    code = child.process.returncode if child.process is not None else None
    if child.stopping and code in (0, -signal.SIGTERM):
        return "stopped"
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def default_web_workers() -> int:
    """``STRATA_WEB_WORKERS``, else gunicorn's rule of thumb: 2 x the cores this process may use, + 1."""
    configured = os.environ.get("STRATA_WEB_WORKERS", "").strip()
    if configured:
        return int(configured)
    return 2 * len(os.sched_getaffinity(0)) + 1


class Command(BaseCommand):
    help = (
        "Migrate, ensure a superuser with a workspace, then run web + Celery worker + Celery beat "
        "until Ctrl-C / SIGTERM. Superuser: DJANGO_SUPERUSER_USERNAME (default admin) and "
        "DJANGO_SUPERUSER_PASSWORD (when unset a random password is generated, shown in the banner and "
        "kept in a 0600 file in the data dir until the first login)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=DEFAULT_ADDR, help=f"web server address (default {DEFAULT_ADDR})")
        parser.add_argument(
            "--dev", action="store_true", help="serve with Django's development server instead of gunicorn"
        )
        parser.add_argument(
            "--web-workers",
            type=int,
            default=None,
            help="gunicorn worker processes (default: STRATA_WEB_WORKERS, else 2 x cores + 1)",
        )
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")
        parser.add_argument("--no-beat", action="store_true", help="do not start Celery beat")
        parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")

    def handle(
        self,
        *args: Any,
        addr: str,
        dev: bool,
        web_workers: int | None,
        no_worker: bool,
        no_beat: bool,
        no_migrate: bool,
        **options: Any,
    ) -> None:
        if not no_migrate:
            for alias in settings.DATABASES:  # default, and the dedicated documents database
                call_command("migrate", interactive=False, database=alias)
        user = self._ensure_superuser()
        if not selectors.workspaces_for_user(user=user).exists():
            workspace = services.workspace_create(name=DEFAULT_WORKSPACE_NAME, owner=user)
            self.stdout.write(f'Created workspace "{workspace.name}" for {user.get_username()}.')
        banner = self._banner(addr, user)
        connections.close_all()  # the supervisor holds no database connection

        workers = web_workers if web_workers is not None else default_web_workers()
        if workers < 1:
            raise CommandError("--web-workers must be at least 1")
        children = self._children(addr, dev=dev, web_workers=workers, worker=not no_worker, beat=not no_beat)
        supervisor = Supervisor(children, self.stdout, web_addr=_connect_addr(addr), banner=banner, **self._env())
        self.stdout.write(f"Starting {', '.join(c.name for c in children)}; the banner below says when all are up.")
        status = supervisor.run()
        if _embedded():
            self.stdout.write(
                "The embedded PostgreSQL and Redis keep running, so the next start is quick; ./strata stop stops them."
            )
        if status:
            raise CommandError("a child process exited unexpectedly; everything was stopped", returncode=status)

    def _ensure_superuser(self) -> Any:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is not None:
            if not user.is_superuser:
                self.stderr.write(self.style.WARNING(f'User "{username}" exists but is not a superuser.'))
            return user
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        password = given or secrets.token_urlsafe(16)
        user = User._default_manager.create_superuser(
            **{User.USERNAME_FIELD: username},
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
            password=password,
        )
        if given:
            self.stdout.write(f'Created superuser "{username}" with the password from DJANGO_SUPERUSER_PASSWORD.')
        else:
            kept = initial_password.remember(username=username, password=password)
            self.stdout.write(
                f'Created superuser "{username}" with a generated password, kept in {_shown(kept)} '
                "(readable only by you) until the first login; the banner below shows it."
            )
        return user

    def _banner(self, addr: str, user: Any) -> str:
        """What a person needs once everything is up: where, who, which password, how to stop."""
        url = f"http://{_display_addr(addr)}/"
        username = user.get_username()
        password = initial_password.recall(user=user)
        if password:
            login = [
                f'Log in as "{username}" with the password  {password}',
                f"  (kept in {_shown(initial_password.path(username))} until the first login)",
            ]
        elif os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            login = [f'Log in as "{username}" with the password in DJANGO_SUPERUSER_PASSWORD.']
        else:
            login = [f'Log in as "{username}".']
        login.append(f"Forgot the password? ./strata manage changepassword {username}")
        stop = "Ctrl-C stops web, worker and beat"
        stop += "; ./strata stop then stops PostgreSQL and Redis." if _embedded() else "."
        rule = "=" * 76
        lines = [f"Strata is running at {url}   (admin: {url}admin/)", *login, stop]
        return "\n".join([rule, *(f"  {line}" for line in lines), rule])

    def _children(self, addr: str, *, dev: bool, web_workers: int, worker: bool, beat: bool) -> list[Child]:
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        if dev:
            web = [python, manage, "runserver", "--noreload", "--insecure", addr]
        else:
            web = [
                python,
                "-m",
                "gunicorn",
                "core.wsgi:application",
                *("--bind", addr, "--workers", str(web_workers), "--timeout", str(WEB_TIMEOUT_SECONDS)),
                *("--graceful-timeout", "30", "--log-level", "info"),
                # gunicornc's control socket in this data dir: by default every gunicorn of the
                # user shares ~/.gunicorn/gunicorn.ctl, and the last one to stop removes it.
                *("--control-socket", str(embedded.data_dir() / "run" / "gunicorn.ctl")),
            ]
        children = [Child("web", web)]
        if worker:
            children.append(
                Child(
                    "worker",
                    [python, "-m", "celery", "-A", "core", "worker", "--loglevel", "INFO"],
                    ready_pattern=r"celery@\S+ ready\.",
                )
            )
        if beat:
            schedule = embedded.data_dir() / "celerybeat-schedule"
            schedule.parent.mkdir(parents=True, exist_ok=True)
            children.append(
                Child(
                    "beat",
                    [python, "-m", "celery", "-A", "core", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
                    ready_pattern=r"beat: Starting",
                )
            )
        return children

    def _env(self) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
        return {"env": env, "cwd": str(settings.BASE_DIR)}


def _embedded() -> bool:
    return not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL")


def _split_addr(addr: str) -> tuple[str, int]:
    """``host:port``, ``[::1]:port`` or a bare port, as runserver takes them."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "", addr
    return host.strip("[]") or "127.0.0.1", int(port)


def _connect_addr(addr: str) -> tuple[str, int]:
    host, port = _split_addr(addr)
    return ("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host), port  # noqa: S104


def _display_addr(addr: str) -> str:
    host, port = _connect_addr(addr)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _shown(path: Path) -> str:
    """A path relative to the current directory when it is inside it (``.strata/...``)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
