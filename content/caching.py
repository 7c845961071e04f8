"""Cached reads of content that can never be stale.

A cached read (a search, the document page) is stored under a key that holds the workspace's
content version, a number in PostgreSQL (``ContentVersion``). Every transaction that changes
what such a read shows bumps the version as its last write, so the new version commits
together with the change: a reader that sees the new version computes a fresh value, and a
value cached under an older version is never looked up again (it expires with the cache's
timeout). Nothing has to reach Redis for a write to become visible, so no invalidation can be
lost (an outage, a timeout, a restart with old data), and a Redis outage only means uncached
reads (see core/storage/redis_cache.py).

Readers read the version before computing: a value computed from an older snapshot can only
be stored under an older version's key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection
from psycopg import sql

from content import stores
from content.models import ContentVersion

T = TypeVar("T")

_BUMP = sql.SQL(
    "INSERT INTO {table} (workspace_id, version) VALUES (%s, 1) "
    "ON CONFLICT (workspace_id) DO UPDATE SET version = {table}.version + 1"
)


def content_version(*, workspace_id: int) -> int:
    """The workspace's content version (0 before its first write)."""
    found = ContentVersion.objects.filter(workspace_id=int(workspace_id)).values_list("version", flat=True).first()
    return found or 0


def bump_content_version(workspace_id: int) -> None:
    """Move the workspace to a new content version, in the caller's transaction. Call it as the
    transaction's last write: the row stays locked until the commit, so concurrent writers of
    the same workspace wait here only for each other's commit."""
    statement = _BUMP.format(table=sql.Identifier(ContentVersion._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), [int(workspace_id)])


def cached(name: str, *, workspace_id: int, parts: Sequence[Any], compute: Callable[[], T]) -> T:
    """``compute()``, cached under ``name``, the workspace, its content version and ``parts``."""
    key = stores.cache_key(name, int(workspace_id), content_version(workspace_id=workspace_id), *parts)
    return stores.cache().get_or_set(key, compute)
