"""What the embedded servers share: their sockets' paths, pid files checked against the running
process, the start lock, stopping by pid, and for a Redis-protocol server (the embedded Redis and
FalkorDB, both a ``redis-server``) the PING / owner checks and starting it (``ensure_server``)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
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


def ensure_server(
    name: str,
    *,
    directory: Path,
    sock: Path,
    pid_file: Path,
    log_file: Path,
    server: Callable[[], tuple[str, list[str]]],
    timeout: float,
    on_running: Callable[[], None] | None = None,
) -> None:
    """Start a ``redis-server`` daemon keeping its data in ``directory`` and listening only on the
    Unix socket ``sock``, unless one answers there; ``server()`` gives its executable and its own
    arguments (imported only when a server starts). ``on_running`` runs, under the start lock, when
    one already answers.

    Refuses (ForeignServer) to use a server that answers on the socket but keeps its data in
    another directory."""
    with start_lock(directory / "start.lock"):
        if answers(sock):
            owner = redis_owner(sock)
            if owner is not None and Path(owner).resolve() != directory.resolve():
                raise ForeignServer(
                    f"the {name} answering on {sock} keeps its data in {owner}, not in {directory}; "
                    "refusing to use another data dir's server"
                )
            if on_running is not None:
                on_running()
            return
        # A server started from this dir that does not answer on the socket (e.g. one from an
        # older Strata listening on a TCP port, or a hung one) would fight over its data: stop it.
        stale = server_pid(pid_file)
        if stale is not None:
            terminate(stale, timeout)
        sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock.unlink(missing_ok=True)  # left by a server that was killed
        executable, arguments = server()
        subprocess.run(
            [
                executable,
                *("--port", "0"),  # no TCP listener at all
                *("--unixsocket", str(sock), "--unixsocketperm", "700"),
                *("--daemonize", "yes"),
                *("--dir", str(directory), "--pidfile", str(pid_file), "--logfile", str(log_file)),
                *arguments,
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers(sock):
                return
            time.sleep(0.05)
    raise RuntimeError(f"embedded {name} did not answer on {sock}; see {log_file}")
