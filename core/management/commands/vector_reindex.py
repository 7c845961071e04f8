"""Rebuild pgvector collections' HNSW indexes without a moment without a valid index.

manage.py vector_reindex --list
manage.py vector_reindex COLLECTION [COLLECTION ...] [--index halfvec|vector|binary] [--index-dimensions N]
manage.py vector_reindex --all --index halfvec      # move every pre-halfvec collection over
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from core.storage.ports import InvalidInput, UnknownCollection
from core.storage.postgres.vector_index import INDEX_TYPES
from core.storage.postgres.vectors import PostgresVectorStore


class Command(BaseCommand):
    help = "Rebuild pgvector HNSW indexes concurrently (e.g. as halfvec), swapping them in when valid."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("collections", nargs="*", help="vector collection names")
        parser.add_argument("--all", action="store_true", help="every collection (of another index type with --index)")
        parser.add_argument("--index", choices=INDEX_TYPES, default=None, help="index type (default: keep the current)")
        parser.add_argument(
            "--index-dimensions",
            type=int,
            default=None,
            metavar="N",
            help="index only the vectors' first N components (e.g. 384 for MiniLM's zero-padded vectors; "
            "refused while a vector has a non-zero component beyond them)",
        )
        parser.add_argument("--list", action="store_true", help="list the collections and their index types")

    def handle(self, *args: Any, **options: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(  # not the hidden collections of a staged load (vector_load)
                "SELECT name, index_type, index_dimensions FROM strata_vector_collection "
                "WHERE name NOT LIKE '#%%' ORDER BY name"
            )
            rows = cursor.fetchall()
        current = {name: kind for name, kind, _ in rows}
        if options["list"]:
            for name, index_type, dims in rows:
                self.stdout.write(f"{name}\t{index_type}\t{dims} dimensions indexed")
            return
        names = list(options["collections"])
        if options["all"]:
            names = [n for n, kind in current.items() if options["index"] is None or kind != options["index"]]
        elif not names:
            raise CommandError("name collections, or --all, or --list")
        store = PostgresVectorStore()
        for name in names:
            started = time.monotonic()
            try:
                kind = store.rebuild_index(
                    name, index_type=options["index"], index_dimensions=options["index_dimensions"]
                )
            except (UnknownCollection, InvalidInput, ValueError) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{name}: {kind} HNSW index rebuilt in {time.monotonic() - started:.1f} s")
