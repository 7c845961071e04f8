"""Tables behind the Postgres adapters of the document and vector ports.

Only the adapters in this package touch these models; apps use the ports.
(The graph lives in Apache AGE's own label tables, see the age/ package.)
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from pgvector.django import VectorField


class DocumentCollection(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "core"
        db_table = "strata_document_collection"

    def __str__(self) -> str:
        return self.name


class DocumentRecord(models.Model):
    collection = models.ForeignKey(DocumentCollection, on_delete=models.CASCADE, related_name="records")
    key = models.CharField(max_length=255)
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "core"
        db_table = "strata_document"
        constraints = [models.UniqueConstraint(fields=["collection", "key"], name="strata_document_uniq_key")]
        indexes = [GinIndex(OpClass("body", name="jsonb_path_ops"), name="strata_document_body_gin")]

    def __str__(self) -> str:
        return f"{self.collection_id}:{self.key}"


class VectorCollectionRecord(models.Model):
    METRICS = [("cosine", "cosine"), ("l2", "l2"), ("inner_product", "inner product")]

    name = models.CharField(max_length=200, unique=True)
    dimension = models.PositiveIntegerField()
    model = models.CharField(max_length=200)
    metric = models.CharField(max_length=20, choices=METRICS, default="cosine")
    # [[dotted metadata path, field type], ...] declared with create_collection(indexed_fields=...)
    indexed_fields = models.JSONField(default=list, blank=True)
    # What the collection's HNSW index is built on (core.storage.postgres.vector_index):
    # "halfvec" (embedding::halfvec(1536), new collections) or "vector" (collections from before).
    index_type = models.CharField(max_length=20, default="halfvec")
    # The leading components the index covers (1536: all); the rest of every vector is zero.
    index_dimensions = models.PositiveIntegerField(default=1536)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "core"
        db_table = "strata_vector_collection"

    def __str__(self) -> str:
        return f"{self.name} ({self.model}, {self.dimension}d)"


class VectorRecord(models.Model):
    collection = models.ForeignKey(VectorCollectionRecord, on_delete=models.CASCADE, related_name="vectors")
    key = models.CharField(max_length=255)
    embedding = VectorField(dimensions=1536)
    metadata = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "core"
        db_table = "strata_vector"
        constraints = [models.UniqueConstraint(fields=["collection", "key"], name="strata_vector_uniq_key")]
        # One HNSW index per collection (partial, WHERE collection_id = N) is created by the
        # adapter when the collection is created, so each collection searches its own graph.
        # fastupdate off (migration 0009): a GIN pending list is scanned whole by every filtered search.
        indexes = [
            GinIndex(OpClass("metadata", name="jsonb_path_ops"), name="strata_vector_metadata_gin", fastupdate=False)
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}:{self.key}"
