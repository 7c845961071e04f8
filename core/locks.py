"""PostgreSQL advisory locks, named by text: transaction-scoped ones, and a session-scoped one
for work that spans several transactions (the outbox relay's hold on an event it runs).

    from core.locks import advisory_xact_lock
    with transaction.atomic():
        advisory_xact_lock("content.workspace:7", shared=True)

The name is hashed with ``hashtext`` into the lock's 32-bit key; ``advisory_xact_lock`` is held
until the enclosing transaction ends (so call it inside ``transaction.atomic``). Every caller of
``pg_advisory*`` in the project goes through here, so lock names stay in one format.
"""

from __future__ import annotations

from django.db import connections

_STATEMENTS = {
    False: "SELECT pg_advisory_xact_lock(hashtext(%s))",
    True: "SELECT pg_advisory_xact_lock_shared(hashtext(%s))",
}


def advisory_xact_lock(name: str, *, shared: bool = False, using: str = "default") -> None:
    """Wait for the advisory lock ``name`` (exclusive, or ``shared`` with other shared holders)
    on the ``using`` connection until the end of its current transaction."""
    with connections[using].cursor() as cursor:
        cursor.execute(_STATEMENTS[bool(shared)], [name])


def try_advisory_xact_lock(name: str, *, shared: bool = False, using: str = "default") -> bool:
    """Take the advisory lock ``name`` until the end of the current transaction if nobody holds
    it in a conflicting mode (never waits); False otherwise."""
    function = "pg_try_advisory_xact_lock_shared" if shared else "pg_try_advisory_xact_lock"
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {function}(hashtext(%s))", [name])
        return bool(cursor.fetchone()[0])


def try_advisory_session_lock(name: str, *, using: str = "default") -> bool:
    """Take the session-level advisory lock ``name`` if nobody holds it (never waits). It is
    held until ``advisory_session_unlock`` or until the connection ends (a killed process's
    locks go with its connection), whatever happens to transactions meanwhile."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name])
        return bool(cursor.fetchone()[0])


def advisory_session_lock(name: str, *, using: str = "default") -> None:
    """Wait for the session-level advisory lock ``name`` (exclusive); released like
    ``try_advisory_session_lock``'s."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])


def advisory_session_unlock(name: str, *, using: str = "default") -> None:
    """Release a lock taken by ``try_advisory_session_lock`` (a no-op if the connection is gone)."""
    connection = connections[using]
    if connection.connection is None or connection.needs_rollback:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])
    except Exception:  # a lost connection took its locks with it
        return
