"""Content tables: the record of every document (rows are the record). A document's row, its
text and metadata (``DocumentSource``) and its chunks are written by the services; its JSON body
in the DocumentStore, its chunks' embeddings in the VectorStore and its graph node in the
GraphStore are projections of these rows (content/projections.py, content/embedding.py)."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for embedding"
        READY = "ready", "Ready"
        FAILED = "failed", "Embedding failed"

    class ContentType(models.TextChoices):
        TEXT = "text/plain", "Plain text"
        MARKDOWN = "text/markdown", "Markdown"
        HTML = "text/html", "HTML"
        JSON = "application/json", "JSON"

    workspace = models.ForeignKey("core.Workspace", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255)
    # text, not varchar: pg_textsearch's BM25 operator takes a text column as it is (no cast)
    title = models.TextField(max_length=500)
    source = models.CharField(max_length=1000, blank=True)
    content_type = models.CharField(max_length=50, choices=ContentType.choices, default=ContentType.TEXT)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    embedding_model = models.CharField(max_length=200, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    char_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "external_id"], name="content_document_uniq_external_id")
        ]
        indexes = [models.Index(fields=["workspace", "status"], name="content_doc_ws_status_idx")]

    def __str__(self) -> str:
        return self.title or self.external_id


class DocumentSource(models.Model):
    """A document's text and metadata as ingested: what its JSON body (``{"workspace_id",
    "title", "text", "metadata"}`` in the DocumentStore) is projected from. Its own table, so
    lists of documents never read the text."""

    document = models.OneToOneField(Document, on_delete=models.CASCADE, primary_key=True, related_name="+")
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"source of {self.document_id}"


class Chunk(models.Model):
    workspace = models.ForeignKey("core.Workspace", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    start_offset = models.PositiveIntegerField()
    end_offset = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField(default=0)
    # which embedding model made this chunk's vector ("" until it is embedded)
    embedding_model = models.CharField(max_length=200, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)
    search_vector = SearchVectorField(null=True)

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="content_chunk_uniq_ordinal")]
        indexes = [
            GinIndex(fields=["search_vector"], name="content_chunk_fts_gin"),
            models.Index(fields=["workspace", "embedding_model"], name="content_chunk_ws_model_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class WorkspaceEmbedding(models.Model):
    """Which embedding provider and model a workspace's chunk vectors are made with (one collection
    per model). Recorded by the first ingest; workers and searches use it whatever their own
    ``STRATA_EMBEDDING_PROVIDER`` says; ``reembed`` switches it."""

    workspace = models.OneToOneField("core.Workspace", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.model}"


class ContentVersion(models.Model):
    """The version of a workspace's content: part of every cached read's key (content/caching.py),
    bumped by every transaction that changes what a page or a search shows."""

    workspace = models.OneToOneField("core.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workspace_id}: v{self.version}"


class PendingLoad(models.Model):
    """A staged bulk load of a workspace's chunk vectors that is still open (content/pending_loads.py):
    the chunks its ingest batches wrote already carry its model, but its vectors are not
    searchable and its documents not ready until it finishes. Its loading session holds the
    advisory lock ``content.load:<id>``: a record whose lock is free belongs to a dead process."""

    workspace = models.ForeignKey("core.Workspace", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"load {self.pk} of workspace {self.workspace_id}: {self.model}"


class PendingLoadDocument(models.Model):
    """A document written into an open ``PendingLoad``, with the content hash its vectors were
    made from (a plain id, not a foreign key: a deleted document's record is dropped with its load)."""

    load = models.ForeignKey(PendingLoad, on_delete=models.CASCADE, related_name="+")
    document_id = models.BigIntegerField(db_index=True)
    content_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["load", "document_id"], name="content_pendingloaddoc_uniq")]

    def __str__(self) -> str:
        return f"{self.document_id} in load {self.load_id}"
