"""Qdrant clients: a server client per store instance, remade in a forked process; local-mode
clients shared per (process, path), since Qdrant's local mode locks its directory, and serialised
with a lock (its engine is not meant for concurrent threads)."""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qdrant_client import QdrantClient

_KEYS = uuid.UUID("6f0c2a8e-51a4-4b3e-9d8e-7b1f3c2d9a10")  # namespace of point ids
_LOCAL_CLIENTS: dict[str, tuple[int, QdrantClient, threading.RLock]] = {}
_LOCAL_GUARD = threading.Lock()


def point_id(key: str) -> str:
    """The point id of a key: uuid5 in Strata's namespace (the key itself is in the payload)."""
    return str(uuid.uuid5(_KEYS, key))


@contextmanager
def local_client(path: str) -> Iterator[QdrantClient]:
    """This process's client for a local-mode directory, held under its lock."""
    with _LOCAL_GUARD:
        entry = _LOCAL_CLIENTS.get(path)
        if entry is None or entry[0] != os.getpid():
            Path(path).mkdir(parents=True, exist_ok=True)
            entry = (os.getpid(), QdrantClient(path=path), threading.RLock())
            _LOCAL_CLIENTS[path] = entry
    with entry[2]:
        yield entry[1]


def close_local_clients() -> None:
    """Close this process's local-mode clients (releases their directory locks)."""
    with _LOCAL_GUARD:
        for pid, client, _ in _LOCAL_CLIENTS.values():
            if pid == os.getpid():
                client.close()
        _LOCAL_CLIENTS.clear()


atexit.register(close_local_clients)
