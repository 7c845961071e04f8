"""``python -m core.embedded running`` prints the running servers (``postgres redis falkordb``);
``python -m core.embedded stop [postgres] [redis] [falkordb]`` stops them. Used by ``./strata
test`` to stop what a test run started; imports no Django."""

from __future__ import annotations

import sys

from core.embedded.daemons import server_pid
from core.embedded.falkordb import falkordb_pid_file, falkordb_socket_path, stop_falkordb
from core.embedded.postgres import pg_data_dir, postgres_socket_dir, stop_postgres
from core.embedded.redis import redis_pid, redis_socket_path, stop_redis


def running() -> dict[str, bool]:
    """Which embedded servers of this data dir run now (starts nothing)."""
    return {
        "postgres": postgres_socket_dir() is not None,
        "redis": redis_pid() is not None,
        "falkordb": server_pid(falkordb_pid_file()) is not None,
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
