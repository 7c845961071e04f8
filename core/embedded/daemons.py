"""What the embedded servers share: their sockets' paths, pid files checked against the running
process, the start lock, stopping by pid, and the PING / owner checks of a Redis-protocol server
(the embedded Redis and FalkorDB)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core.embedded import data_dir


class ForeignServer(RuntimeError):
    """A server answers where this data dir's server should be, but belongs to another data dir."""


def socket_path(path: Path, name: str) -> Path:
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"strata-{name}-{digest}" / path.name


_MAX_SOCKET_PATH = 100  # sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS), NUL included


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_pid(pid_file: Path) -> int | None:
    """The pid in a redis-server pid file, if that redis-server still runs."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:  # a recycled pid is not our server
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc (macOS): trust the pid file
    return pid if b"redis-server" in cmdline else None


def redis_client(path: Path, timeout: float = 1.0):
    import redis

    return redis.Redis(unix_socket_path=str(path), socket_timeout=timeout, socket_connect_timeout=timeout)


def answers(path: Path) -> bool:
    """True when a Redis-protocol server (Redis, FalkorDB) answers PING on the socket ``path``."""
    import redis

    client = redis_client(path)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def redis_owner(path: Path) -> str | None:
    """The working directory of the Redis answering on ``path`` (``CONFIG GET dir``)."""
    import redis

    client = redis_client(path)
    try:
        value = client.config_get("dir").get("dir")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return value.decode() if isinstance(value, bytes) else value


def terminate(pid: int, timeout: float) -> None:
    os.kill(pid, signal.SIGTERM)  # redis saves and exits
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)


@contextlib.contextmanager
def start_lock(path: Path) -> Iterator[None]:
    """An exclusive file lock: processes starting at once (web, worker, beat) start one server."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
