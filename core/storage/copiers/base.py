"""What every copier does (``Copier``), on *units* (a document collection, a vector collection,
a node label, an edge type: what the app declared in ``core.storage.namespaces``). For each unit
it can make it exist in the target, count it, copy a page of it from a cursor, list its keys, copy
or delete given keys, checksum given keys, and answer sample queries in both backends.

Copies race with the dual writes of live traffic: a page read from the source may be deleted
(or changed) before it reaches the target. So after writing a page the copier reads those keys
from the source again and deletes from the target what is gone there and writes again what
changed (projections write the source first, so a change the re-read misses reaches the target
after the copy); ``reconcile`` compares the key sets at the end.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from core.storage.namespaces import Namespace
from core.storage.ports import Store, UnknownCollection, UnknownLabel

PAGE = 500


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class Copier(ABC):
    kind = ""

    def __init__(self, app: str, namespace: Namespace, source: Store, target: Store, *, page_size: int = PAGE) -> None:
        self.app = app
        self.namespace = namespace
        self.source = source
        self.target = target
        self.page_size = max(1, int(page_size))

    @abstractmethod
    def units(self) -> list[str]:
        """The app's units that exist in the source."""

    @abstractmethod
    def prepare(self, unit: str) -> None:
        """Make the unit exist in the target (collection, label, edge type)."""

    @abstractmethod
    def count(self, store: Store, unit: str) -> int: ...

    @abstractmethod
    def copy_page(self, unit: str, after: str | None) -> tuple[int, str | None]:
        """Copy one page after ``after``; returns (items copied, the next cursor or None)."""

    @abstractmethod
    def keys(self, store: Store, unit: str) -> set[str]: ...

    @abstractmethod
    def copy_keys(self, unit: str, keys: list[str]) -> int: ...

    @abstractmethod
    def delete_keys(self, unit: str, keys: list[str]) -> int: ...

    @abstractmethod
    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, Any]:
        """A comparable digest of each key found in ``store`` (``same`` compares two)."""

    def same(self, a: Any, b: Any) -> bool:
        return a == b

    def probes(self, unit: str, keys: list[str]) -> list[dict[str, Any]]:
        """Sample queries answered by both backends: ``{"query", "source", "target", "same"}``."""
        return []

    def keys_or_none(self, store: Store, unit: str) -> set[str]:
        """The unit's keys in ``store``; empty when the unit does not exist there."""
        try:
            return self.keys(store, unit)
        except (UnknownCollection, UnknownLabel):
            return set()

    def present(self, store: Store, unit: str, keys: list[str]) -> set[str]:
        try:
            return set(self.checksums(store, unit, keys))
        except (UnknownCollection, UnknownLabel):
            return set()

    def reconcile(self, unit: str, hold: Any) -> dict[str, int]:
        """Copy what the target misses, delete what the source does not have. ``hold()`` is a
        context in which no write of the app's kind is half-way between the backends (a vector
        slice writes the target before it commits to the source): an extra key is deleted only
        if the source still lacks it there."""
        source, target = self.keys(self.source, unit), self.keys_or_none(self.target, unit)
        missing, extra = sorted(source - target), sorted(target - source)
        copied = deleted = 0
        for start in range(0, len(missing), PAGE):
            copied += self.copy_keys(unit, missing[start : start + PAGE])
        for start in range(0, len(extra), PAGE):
            with hold():
                batch = extra[start : start + PAGE]
                still = self.present(self.source, unit, batch)
                deleted += self.delete_keys(unit, [key for key in batch if key not in still])
        return {"copied": copied, "deleted": deleted}


def pages(fetch: Any) -> Iterator[list[Any]]:
    """The items of every page ``fetch(after)`` returns, following its cursor to the end."""
    after = None
    while True:
        page = fetch(after)
        yield page.items
        after = page.next_cursor
        if after is None:
            return
