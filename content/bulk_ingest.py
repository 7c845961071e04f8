"""A bulk ingest: many batches of documents written by ``STRATA_INGEST_WORKERS`` threads.

``document_ingest`` writes one batch in one transaction on one connection, and its process
waits while PostgreSQL works (and PostgreSQL while it chunks and prepares): one ingest uses one
core. ``document_ingest_batches`` runs ``document_ingest`` for each batch on a few threads, each
with its own connection (core/parallel.py), so two batches are written at once, and yields each
batch's report in input order. Every batch is still its own transaction with all its
guarantees (all-or-nothing in every store sharing it, per-item errors, its outbox event and
audit entry), and:

- the first batch runs alone (it records the workspace's embedding model and creates what a
  first write creates);
- a batch that shares an external id with a batch in flight waits for it, so the same id is
  written in input order (the later version wins, as one after the other);
- vectors: with ``embed=True`` the batches run in parallel only with a caller's staged bulk load
  (``services.embedding_bulk_load``, as ``manage.py ingest --embed`` opens for a file): every
  writer thread joins it (``EmbeddingLoad.joined``), its vectors become searchable together
  when the caller finishes the load. Without a bulk load, a batch with many chunks would open a
  staged load of its own, whose index build waits for every open transaction: those batches run
  one after the other, as they do when the load has a backend outside the database (a Qdrant
  client stays in the thread that opened it);
- inside a caller's transaction everything runs in the caller's thread, one batch after another.

A batch's exception (a lost connection, a failing store) comes back in its outcome; the batches
already running finish (their transactions commit or roll back on their own).

With ``STRATA_INGEST_VECTORS_FIRST`` (experimental, off) and a staged load, every batch is
prepared and its vectors staged first, then the load's index build runs while the rows are
written (content/ingest_ahead.py).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from contextlib import closing, nullcontext
from typing import Any

from django.conf import settings
from django.db import connection

from content import ingest, ingest_ahead, vector_bulk
from content.items import IngestItem, IngestReport
from core import parallel

Outcome = parallel.Outcome


def document_ingest_batches(
    *,
    workspace_id: int,
    batches: Iterable[list[IngestItem]],
    actor: Any = None,
    embed: bool = False,
    bulk: vector_bulk.EmbeddingLoad | None = None,
    workers: int | None = None,
) -> Generator[parallel.Outcome[list[IngestItem], IngestReport], None, None]:
    """``document_ingest`` of every batch, on ``workers`` threads (module doc); outcomes in order."""
    workers = int(settings.STRATA_INGEST_WORKERS) if workers is None else int(workers)
    if connection.in_atomic_block or (embed and bulk is None) or (bulk is not None and not bulk.threadable):
        workers = 1

    ahead: dict[int, parallel.Outcome[list[IngestItem], ingest.Ahead]] = {}
    if embed and bulk is not None and bulk.premarks and workers > 1 and settings.STRATA_INGEST_VECTORS_FIRST:
        batches = list(batches)  # two passes (content/ingest_ahead.py)

        def prepare(batch: list[IngestItem]) -> ingest.Ahead:
            with bulk.joined():
                return ingest_ahead.prepare(workspace_id=workspace_id, items=batch, load=bulk)

        with closing(parallel.ordered_map(prepare, batches, workers=workers)) as prepared:
            ahead = {id(outcome.item): outcome for outcome in prepared}
        bulk.build_ahead()

    def run(batch: list[IngestItem]) -> IngestReport:
        early = ahead[id(batch)].get() if ahead else None  # a batch that failed to prepare fails here
        with bulk.joined() if bulk is not None and workers > 1 else nullcontext():
            return ingest.document_ingest(
                workspace_id=workspace_id, items=batch, actor=actor, embed=embed, bulk=bulk, ahead=early
            )

    return parallel.ordered_map(run, batches, workers=workers, keys=_external_ids, first_alone=True)


def _external_ids(batch: list[IngestItem]) -> set[str]:
    """The batch's external ids as ``prepare_item`` reads them (stripped); others by their repr."""
    return {item.external_id.strip() if isinstance(item.external_id, str) else repr(item.external_id) for item in batch}
