"""Transaction-scoped PostgreSQL advisory locks, named by text.

    from core.locks import advisory_xact_lock
    with transaction.atomic():
        advisory_xact_lock("content.workspace:7", shared=True)

The name is hashed with ``hashtext`` into the lock's 32-bit key; the lock is held until the
enclosing transaction ends (so call it inside ``transaction.atomic``). Every caller of
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
