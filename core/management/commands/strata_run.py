"""Start everything: migrate, make sure there is a superuser with a workspace, then run the
web server, a Celery worker and Celery beat as child processes with prefixed output.

    manage.py strata_run [--addr 127.0.0.1:8000] [--no-worker] [--no-beat] [--no-migrate]

Ctrl-C or SIGTERM stops every child (SIGTERM first, SIGKILL after a grace period). When one
child dies on its own the others are stopped and the command exits with status 1.
The embedded PostgreSQL and Redis keep running afterwards; ``manage.py strata_stop`` stops them.

The web server is Django's runserver (``--noreload --insecure`` so it also serves the static
files of the admin): fine for the embedded, local default. Production runs a real WSGI server
(see docker-compose.yml).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connections

from core import embedded, selectors, services

DEFAULT_ADDR = "127.0.0.1:8000"
DEFAULT_WORKSPACE_NAME = "Default workspace"
STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if strata_run itself is killed (e.g. SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Runs children until asked to stop or until one of them exits; then stops the rest."""

    def __init__(self, children: list[Child], out: OutputWrapper, *, env: dict[str, str], cwd: str) -> None:
        self.children = children
        self.out = out
        self.env = env
        self.cwd = cwd
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._signal: int | None = None
        self.width = max(len(child.name) for child in children)

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{name:<{self.width}} | {line}")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[str]) -> None:
        for line in stream:
            self.say(child.name, line.rstrip("\n"))

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
                child.reader = threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True)
                child.reader.start()
            while failed is None and not self._stop.wait(POLL_SECONDS):
                failed = next((c for c in self.children if c.process and c.process.poll() is not None), None)
        finally:
            if failed is not None:
                self.say(failed.name, f"exited with status {failed.process.returncode}; stopping the others")
            elif self._signal is not None:
                self.say("strata", f"{signal.Signals(self._signal).name} received; stopping")
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed is not None else 0

    def stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.process.terminate()  # the main process only: a Celery worker stops its own pool
        for child in running:
            try:
                child.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say(child.name, "did not stop in time; killing it")
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
            self.say(child.name, f"stopped (status {child.process.returncode})")


class Command(BaseCommand):
    help = (
        "Migrate, ensure a superuser with a workspace, then run web + Celery worker + Celery beat "
        "until Ctrl-C / SIGTERM. Superuser: DJANGO_SUPERUSER_USERNAME (default admin) and "
        "DJANGO_SUPERUSER_PASSWORD (when unset a random password is generated and printed once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=DEFAULT_ADDR, help=f"web server address (default {DEFAULT_ADDR})")
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")
        parser.add_argument("--no-beat", action="store_true", help="do not start Celery beat")
        parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")

    def handle(
        self,
        *args: Any,
        addr: str,
        no_worker: bool,
        no_beat: bool,
        no_migrate: bool,
        **options: Any,
    ) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False)
        user = self._ensure_superuser()
        if not selectors.workspaces_for_user(user=user).exists():
            workspace = services.workspace_create(name=DEFAULT_WORKSPACE_NAME, owner=user)
            self.stdout.write(f'Created workspace "{workspace.name}" for {user.get_username()}.')
        connections.close_all()  # the supervisor holds no database connection

        children = self._children(addr, worker=not no_worker, beat=not no_beat)
        supervisor = Supervisor(children, self.stdout, **self._env())
        self.stdout.write(f"Strata is starting at http://{addr}/ (admin: http://{addr}/admin/). Ctrl-C stops it.")
        status = supervisor.run()
        if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
            self.stdout.write("The embedded PostgreSQL/Redis keep running; `manage.py strata_stop` stops them.")
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
            rule = "=" * 72
            self.stdout.write(
                self.style.WARNING(
                    f"{rule}\n"
                    f'  Created superuser "{username}" with password: {password}\n'
                    "  It is shown only this once and stored nowhere; change it in the admin.\n"
                    f"{rule}"
                )
            )
        return user

    def _children(self, addr: str, *, worker: bool, beat: bool) -> list[Child]:
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        children = [Child("web", [python, manage, "runserver", "--noreload", "--insecure", addr])]
        if worker:
            children.append(Child("worker", [python, "-m", "celery", "-A", "core", "worker", "--loglevel", "INFO"]))
        if beat:
            schedule = embedded.data_dir() / "celerybeat-schedule"
            schedule.parent.mkdir(parents=True, exist_ok=True)
            children.append(
                Child(
                    "beat",
                    [python, "-m", "celery", "-A", "core", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
                )
            )
        return children

    def _env(self) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
        return {"env": env, "cwd": str(settings.BASE_DIR)}
