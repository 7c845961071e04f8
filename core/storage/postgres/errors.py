"""PostgreSQL client errors mapped onto the port's errors."""

from __future__ import annotations

import psycopg
from django import db

from core.storage.ports.errors import StorageError, StoreUnavailable

# connection exceptions (08...), admin/crash shutdown, cannot connect now, too many connections
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


def map_database_error(error: Exception, alias: str) -> StorageError | None:
    """StoreUnavailable for a database that cannot be reached (refused, lost, shutting down)."""
    if not isinstance(
        error, db.OperationalError | db.InterfaceError | psycopg.OperationalError | psycopg.InterfaceError
    ):
        return None
    cause = error.__cause__ if isinstance(error.__cause__, psycopg.Error) else error
    state = getattr(cause, "sqlstate", None)
    if state is None or state.startswith("08") or state in _UNAVAILABLE_STATES:
        return StoreUnavailable(f"PostgreSQL database {alias!r} is unavailable: {error}")
    return None
