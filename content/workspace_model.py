"""The embedding model belongs to the workspace, not to the process.

A workspace's first ingest records its provider and model (``WorkspaceEmbedding``), taken from
that process's ``STRATA_EMBEDDING_PROVIDER``. From then on every writer (the web process, a worker
started with other settings) and every search build exactly that embedder; a process that cannot
gets an ``EmbeddingError`` naming the provider and the command that switches the workspace
(``reembed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection

from content.embeddings import Embedder, EmbeddingError, get_embedder, get_workspace_embedder
from content.models import WorkspaceEmbedding
from core.models import Workspace


def current_embedding(workspace_id: int, *, create: bool) -> tuple[str, str]:
    """The workspace's ``(provider, model)``. Before its first content it has none: then this
    process's configured provider is the answer, and ``create=True`` records it, so every later
    writer (the worker, whatever its own settings) and every search use that one."""
    row = WorkspaceEmbedding.objects.filter(workspace_id=workspace_id).values_list("provider", "model").first()
    if row is not None:
        return row
    provider = settings.STRATA_EMBEDDING_PROVIDER
    model = get_embedder(provider).model
    if create:
        WorkspaceEmbedding.objects.bulk_create(
            [WorkspaceEmbedding(workspace_id=workspace_id, provider=provider, model=model)], ignore_conflicts=True
        )
        return WorkspaceEmbedding.objects.values_list("provider", "model").get(workspace_id=workspace_id)
    return provider, model


def _slug(workspace_id: int) -> str:
    return Workspace.objects.filter(pk=workspace_id).values_list("slug", flat=True).first() or str(workspace_id)


def workspace_embedder(workspace_id: int, *, create: bool = True) -> tuple[Embedder, str]:
    """The embedder the workspace records (recorded on first use unless ``create=False``), and
    its model, for writing vectors. Its embedding errors name the provider and the command that
    switches the workspace."""
    provider, model = current_embedding(workspace_id, create=create)
    slug = _slug(workspace_id)
    embedder = get_workspace_embedder(provider=provider, model=model, workspace=slug)
    return _Explained(embedder, slug=slug, provider=provider), model


_QUERY_EMBEDDER = (
    f"SELECT e.provider, e.model, w.slug FROM {WorkspaceEmbedding._meta.db_table} e "  # noqa: S608 (table names)
    f"JOIN {Workspace._meta.db_table} w ON w.id = e.workspace_id WHERE e.workspace_id = %s"
)


def query_embedder(workspace_id: int) -> tuple[Embedder, str] | None:
    """The workspace's own embedder and model for embedding queries; None before anything was
    recorded. Raises ``EmbeddingError`` (naming the provider and the fix) when this process
    cannot build it."""
    # one query per search, written out: the ORM's compilation of it cost more CPU than the query
    # (0.47 vs 0.1 ms per search); the slug only names the workspace in error messages
    with connection.cursor() as cursor:
        cursor.execute(_QUERY_EMBEDDER, [int(workspace_id)])
        row = cursor.fetchone()
    if row is None or not row[1]:
        return None
    provider, model, slug = row
    return get_workspace_embedder(provider=provider, model=model, workspace=slug or str(workspace_id)), model


def _other_provider(provider: str) -> str:
    """A provider to switch to in a runnable command: this process's, or hashing (always there)."""
    configured = settings.STRATA_EMBEDDING_PROVIDER
    return configured if configured != provider else "hashing"


class _Explained:
    """An embedder whose failures say which workspace provider failed and how to switch it."""

    def __init__(self, embedder: Embedder, *, slug: str, provider: str) -> None:
        self.embedder, self.slug, self.provider = embedder, slug, provider
        self.model, self.dimension = embedder.model, embedder.dimension
        self.relevance_floor = getattr(embedder, "relevance_floor", 0.0)
        self.fusion_weights = getattr(embedder, "fusion_weights", None)

    def embed(self, texts: Sequence[str]) -> Any:
        try:
            return self.embedder.embed(texts)
        except EmbeddingError as exc:
            raise EmbeddingError(
                f"workspace {self.slug!r} embeds with provider {self.provider!r} (model {self.model!r}), which "
                f"failed: {exc}. Fix the provider, or switch the workspace with "
                f"`./strata manage reembed --workspace {self.slug} --provider {_other_provider(self.provider)}`"
            ) from exc
