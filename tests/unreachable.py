"""Servers that do not answer, for the contract cases about StoreUnavailable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections
from django.db.utils import load_backend


def closed_port() -> int:
    """A local TCP port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def unreachable_database(alias: str = "unreachable") -> Iterator[str]:
    """A Django database alias whose server refuses connections."""
    config = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "nowhere",
        "USER": "nobody",
        "HOST": "127.0.0.1",
        "PORT": str(closed_port()),
        "OPTIONS": {"connect_timeout": 2},
    }
    settings_dict = connections.configure_settings({"default": config, alias: config})[alias]
    # Registered as a connection but not in DATABASES: Django's test cases allow such dynamically
    # created connections (they only police the configured aliases).
    connections[alias] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
