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

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from core import embedded, initial_password, selectors, services
from core.supervisor import Child, Supervisor

DEFAULT_ADDR = "127.0.0.1:8000"
WEB_TIMEOUT_SECONDS = 120  # gunicorn restarts a worker stuck in one request longer than this
DEFAULT_WORKSPACE_NAME = "Default workspace"


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
