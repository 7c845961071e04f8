"""Ingest files into a workspace.

manage.py ingest docs/ notes.md dump.jsonl --workspace my-lab
manage.py ingest corpus.jsonl --workspace 3 --batch-size 1000 --embed
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from content import parsers, services
from content.embeddings import EmbeddingError
from content.items import locate
from content.parsed import ParseError
from core.management.arguments import workspace_argument
from core.parallel import Outcome
from core.storage.ports import StorageError, StoreUnavailable

RERUN_IS_SAFE = "Re-running the same command is safe: what is already stored is reported as unchanged."


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _what_happened(exc: BaseException) -> str:
    """Lost connection (SQLSTATE class 08, 57 or none: the client saw the socket close) or
    another server-side failure (deadlock, timeout, disk full...)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if isinstance(exc, InterfaceError) or sqlstate[:2] in {"", "08", "57"}:
        return "lost the connection to PostgreSQL"
    return "PostgreSQL failed the batch"


class Command(BaseCommand):
    help = (
        "Ingest .txt, .md, .html, .json and .jsonl files (directories recursively) into a workspace, "
        "one transaction per batch. Prints file:line for every item that failed; exits with 1 if any did."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.STRATA_INGEST_BATCH_SIZE,
            help="documents per transaction (default %(default)s)",
        )
        parser.add_argument(
            "--embed",
            action="store_true",
            default=False,
            help=(
                "embed while ingesting (a large file's vectors through the bulk path: one index build at "
                "the end); default: the worker embeds via the outbox"
            ),
        )
        parser.add_argument("--no-embed", dest="embed", action="store_false", help="leave embedding to the worker")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._ingest(options)
        except (OperationalError, InterfaceError) as exc:  # outside a batch (e.g. while connecting)
            raise CommandError(f"{_what_happened(exc)} ({_first_line(exc)}). {RERUN_IS_SAFE}") from None

    def _ingest(self, options: dict[str, Any]) -> None:
        workspace = workspace_argument(options["workspace"])
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        embed: bool = options["embed"]
        counts = dict.fromkeys(services.OUTCOMES, 0)
        quiet = options["verbosity"] == 0
        # The total (a cheap pass over the files) gives the bar a percentage and an ETA, and
        # decides whether the vectors go through the bulk path (one index build for the file).
        total = None if quiet and not embed else parsers.count_items(options["paths"])
        load = services.embedding_bulk_load(workspace_id=workspace.pk, rows=total or 0) if embed else None
        progress = tqdm(total=total, desc="ingest", unit="doc", file=sys.stderr, disable=quiet)

        def summary() -> str:
            return (
                f"added {counts['added']}, updated {counts['updated']}, "
                f"unchanged {counts['unchanged']}, failed {counts['failed']}"
            )

        def report(message: str) -> None:
            with tqdm.external_write_mode(file=sys.stderr):
                self.stderr.write(message)

        def advance(done: int) -> None:
            # Counts as plain strings (tqdm would print 10000 as 1e+4), set before the update
            # that redraws the bar, so the bar never shows the previous batch's counts.
            progress.set_postfix({name: str(n) for name, n in counts.items()}, refresh=False)
            progress.update(done)

        def batches() -> Iterator[list[services.IngestItem]]:
            batch: list[services.IngestItem] = []
            for entry in parsers.iter_items(options["paths"]):
                if isinstance(entry, ParseError):
                    counts["failed"] += 1
                    report(str(entry))
                    advance(1)
                    continue
                batch.append(entry)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []  # a new list: the one yielded may still be being written
            if batch:
                yield batch

        def settle(outcome: Outcome) -> None:
            batch = outcome.item
            try:
                try:
                    result = outcome.get()
                except StoreUnavailable as exc:  # a Postgres adapter's view of the same lost connection
                    if isinstance(exc.__cause__, OperationalError | InterfaceError):
                        raise exc.__cause__ from None
                    raise
            except (OperationalError, InterfaceError) as exc:  # the server, not an item, stopped the batch
                progress.close()
                self.stdout.write(summary())
                raise CommandError(
                    f"{_what_happened(exc)} while ingesting ({_first_line(exc)}). The interrupted batch of "
                    f"{len(batch)} item(s) was rolled back entirely; the batches before it (and any written "
                    f"beside it) are stored. {RERUN_IS_SAFE}"
                ) from None
            except (EmbeddingError, StorageError) as exc:
                for item in batch:
                    counts["failed"] += 1
                    where = locate(item.source or item.external_id, line=item.line, item=item.item)
                    report(f"{where}: batch not ingested: {exc}")
            else:
                for outcome_name, count in result.counts.items():
                    counts[outcome_name] += count
                for failure in result.failed:
                    report(f"{failure.location}: {failure.error}")
            advance(len(batch))

        # Log records (e.g. the service's line per batch) go above the bar, not into it. The
        # batches are written by STRATA_INGEST_WORKERS threads, reported here in file order.
        with logging_redirect_tqdm():
            try:
                # closing(): an error stops the threads (their batches in flight finish) before
                # the load is aborted below
                outcomes = services.document_ingest_batches(
                    workspace_id=workspace.pk, batches=batches(), embed=embed, bulk=load
                )
                with closing(outcomes):
                    for outcome in outcomes:
                        settle(outcome)
                if load is not None:  # the vectors become searchable at once, then documents ready
                    progress.set_description("ingest (building the vector index)")
                    load.finish()
                    load = None
                if progress.total != progress.n:  # the count was off (e.g. a binary .jsonl): end at 100 %
                    progress.total = progress.n
                    progress.refresh()
            finally:
                progress.close()
                if load is not None:  # interrupted: nothing staged shows; the worker embeds the rows
                    load.abort()

        self.stdout.write(summary())
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} item(s) failed")
