"""Loads of many vectors into one collection (``VectorStore.bulk_load``).

A load is opened for an expected number of rows, fed ``add(items)`` in batches and closed with
``finish()`` (or ``abort()``); as a context manager it finishes on a clean exit and aborts on
an exception. The store decides how (``staged``):

- live (every store; small loads): each ``add`` upserts ``STRATA_VECTOR_LIVE_BATCH`` rows per
  call (per commit on a store that joins the database transaction, outside one), and readers
  see each batch as it lands;
- staged (a store that can, e.g. pgvector for a load large against its collection): rows go
  into an unindexed copy of the collection, the index is built once by ``finish()``, and
  readers see the old collection until then and the whole load after it, never part of it.

``add`` may be called from several threads (a bulk ingest's writers, core/parallel.py); a
thread that writes to the collection on the load's behalf while it runs (an ingest deleting
the vectors of chunks it replaced) does so inside ``with load.joined():``, so a staged load
lets it through and mirrors its writes into the staged copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.storage.ports.types import VectorItem

if TYPE_CHECKING:
    from core.storage.ports.vectors import VectorStore


class VectorLoad:
    """One load into ``collection`` (see the module doc); ``rows`` counts the rows added."""

    staged = False

    def __init__(self, store: VectorStore, collection: str, model: str) -> None:
        self.store = store
        self.collection = collection
        self.model = model
        self.rows = 0
        self.done = False
        self._counting = threading.Lock()

    def add(self, items: Iterable[VectorItem]) -> int:
        """Write (or stage) the items; returns how many."""
        if self.done:
            raise RuntimeError("this vector load is finished")
        written = self._add(list(items))
        with self._counting:
            self.rows += written
        return written

    @contextmanager
    def joined(self) -> Iterator[None]:
        """The calling thread writes to the collection on this load's behalf inside the block
        (module doc); a live load needs nothing."""
        yield

    def build_ahead(self) -> None:
        """Start the expensive part of ``finish`` now, on another connection (a staged load's
        index build), while the caller goes on with other work; ``finish`` waits for it. Rows
        added afterwards are still included (at a live insert's cost). A live load: nothing."""
        return None

    def finish(self) -> int:
        """Make everything added visible (a staged load builds and swaps here); returns the rows."""
        if not self.done:
            self._finish()
            self.done = True
        return self.rows

    def abort(self) -> None:
        """Leave the collection as it was before a staged load (live batches stay written)."""
        if not self.done:
            self.done = True
            self._abort()

    def __enter__(self) -> VectorLoad:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.finish()
        else:
            self.abort()

    # ------------------------------------------------------------ the live load

    def _add(self, items: list[VectorItem]) -> int:
        size = max(1, int(settings.STRATA_VECTOR_LIVE_BATCH))
        written = 0
        for start in range(0, len(items), size):
            written += self._write_batch(items[start : start + size])
        return written

    def _write_batch(self, items: list[VectorItem]) -> int:
        return self.store.upsert(self.collection, items, model=self.model)

    def _finish(self) -> None:
        return None

    def _abort(self) -> None:
        return None
