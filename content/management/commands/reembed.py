"""Re-embed a workspace's chunks with another embedding provider and switch to it.

manage.py reembed --workspace my-lab --provider sentence-transformers
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from content import services
from content.embeddings import PROVIDERS, EmbeddingError
from core.management.arguments import workspace_argument
from core.storage.ports import StorageError


class Command(BaseCommand):
    help = (
        "Embed every chunk of a workspace with another provider into that model's collection, then "
        "switch the workspace to it and drop the old collection (searches use the old model until then)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug or id")
        parser.add_argument("--provider", required=True, choices=sorted(PROVIDERS), help="embedding provider")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.STRATA_EMBEDDING_BATCH_SIZE,
            help="chunks per batch (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_argument(options["workspace"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        before = services.workspace_embedding_model(workspace_id=workspace.pk)
        progress = tqdm(desc="reembed", unit="chunk", file=sys.stderr, disable=options["verbosity"] == 0)

        def advance(done: int, total: int) -> None:
            progress.total = total
            progress.update(done - progress.n)

        try:
            with logging_redirect_tqdm():  # log records go above the bar, not into it
                count = services.workspace_reembed(
                    workspace_id=workspace.pk,
                    provider=options["provider"],
                    progress=advance,
                    batch_size=options["batch_size"],
                )
        except (EmbeddingError, StorageError) as exc:
            raise CommandError(f"re-embedding failed, nothing was switched: {exc}") from exc
        finally:
            progress.close()
        after = services.workspace_embedding_model(workspace_id=workspace.pk)
        self.stdout.write(f"re-embedded {count} chunks of {workspace.slug}: {before} -> {after}")
