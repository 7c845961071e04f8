"""Knowledge rows: entity types, entities (with aliases), facts (with their source documents),
relations (with label, properties, weight and provenance) and extraction runs.

Rows are the record: the graph nodes and edges and the fact vectors are projections of these
rows (knowledge/projections.py). Documents belong to the content app and are referenced by id.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from core.models import Workspace

#: the types every workspace has; users add their own (EntityType rows with workspace set)
BUILTIN_TYPES = ("person", "organisation", "product", "concept", "package", "place", "event")


class EntityType(models.Model):
    """A type of entity: built in (``workspace`` null) or added by a workspace's users."""

    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    name = models.SlugField(max_length=50, help_text="lowercase letters, digits, - or _")
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="knowledge_type_unique", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return self.name


class Entity(models.Model):
    """A thing the documents talk about. ``key`` is its identity in the workspace (and, scoped to
    the workspace, its graph node's key); ``normalized`` and ``normalized_aliases`` are what
    entity resolution matches. A merged entity keeps its row with ``merged_into`` set (so a merge
    can be undone) and has no graph node."""

    # no index of its own: the unique (workspace, key) leads with it. With one, a probe by
    # (workspace, key) planned from stale statistics (a new workspace's import) took the
    # one-column index and filtered every entity of the workspace by key, once per probe
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=255)
    normalized = models.CharField(max_length=255, db_index=True)
    type = models.ForeignKey(EntityType, on_delete=models.RESTRICT, related_name="entities")
    aliases = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    normalized_aliases = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    origin = models.CharField(max_length=200, blank=True, help_text="what created it: extractor:NAME, import, manual")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "entities"
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="knowledge_entity_key_unique")]
        indexes = [
            models.Index(fields=["workspace", "normalized"], name="knowledge_entity_norm"),
            # only the entities with aliases (most have none): queries say ``<> '{}'`` too, which
            # tells the planner how few rows that is (with no alias anywhere its array statistics
            # cannot, and it scanned the whole table instead of this index); no pending list
            # (knowledge.0006: every lookup by alias would read it)
            GinIndex(
                fields=["normalized_aliases"],
                name="knowledge_entity_aliased",
                condition=~Q(normalized_aliases=[]),
                fastupdate=False,
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Fact(models.Model):
    """A statement, unique per workspace by its normalized text; its vector (the workspace's
    embedding model) is written by a projection. Its sources say which documents (and which
    extractor or import) stated it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    statement = models.TextField()
    statement_hash = models.CharField(max_length=64)
    entities = models.ManyToManyField(Entity, blank=True, related_name="facts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "statement_hash"], name="knowledge_fact_unique"),
        ]

    def __str__(self) -> str:
        return self.statement[:80]


class FactSource(models.Model):
    """Where a fact comes from: a document (content id) and/or a provenance (extractor, import)."""

    fact = models.ForeignKey(Fact, on_delete=models.CASCADE, related_name="sources")
    document_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    provenance = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["fact", "document_id", "provenance"], name="knowledge_fact_source_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.provenance} doc {self.document_id}"


#: the provenance of imported rows (``manage.py graph_import``)
IMPORT_PROVENANCE = "import"
_HAS_DOCUMENT = Q(document_id__isnull=False)
_HAS_SOURCE_DOCUMENT = Q(source_document_id__isnull=False)
_HAS_TARGET_DOCUMENT = Q(target_document_id__isnull=False)

#: what makes a relation one (its unique constraint; ``knowledge.writes`` upserts on it)
RELATION_IDENTITY = (
    "workspace",
    "label",
    "source_entity",
    "source_document_id",
    "target_entity",
    "target_document_id",
    "provenance",
    "document_id",
)


class Relation(models.Model):
    """One piece of evidence for a graph edge: ``label`` from a source (an entity or a document)
    to a target (an entity or a document), with properties, a weight and its provenance (which
    extractor or import created it, and from which document). The graph edge (label, source,
    target) is the aggregate of every row naming it: weight summed, properties merged,
    provenances listed. Replacing what one extractor found in one document deletes exactly its
    rows (``provenance`` + ``document_id``)."""

    # every index costs each imported row its upkeep, so there are only those a query uses (see
    # Meta): workspace_id leads the unique constraint, so it gets no index of its own. The three
    # foreign keys have no database constraint: statement-level triggers check them set-based,
    # and the entity's workspace too (knowledge/integrity.py); the ORM still cascades deletes
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    label = models.CharField(max_length=63)
    source_entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    source_document_id = models.BigIntegerField(null=True, blank=True)
    target_entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    target_document_id = models.BigIntegerField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    weight = models.FloatField(default=1.0)
    provenance = models.CharField(max_length=200, help_text="extractor:NAME, import:FILE, manual or merge")
    document_id = models.BigIntegerField(null=True, blank=True, help_text="the document this evidence came from")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source_entity__isnull=False) ^ Q(source_document_id__isnull=False),
                name="knowledge_relation_one_source",
            ),
            models.CheckConstraint(
                condition=Q(target_entity__isnull=False) ^ Q(target_document_id__isnull=False),
                name="knowledge_relation_one_target",
            ),
            models.UniqueConstraint(
                fields=list(RELATION_IDENTITY),
                name="knowledge_relation_unique",
                nulls_distinct=False,
            ),
        ]
        # the entity ends (merges, the foreign keys' cascades), and the document columns only where
        # they are set (extractors' rows, document ends): an imported entity-to-entity row has none
        # of them, so it keeps four indexes up to date (these two, the key and the unique one).
        # knowledge_rel_evidence holds the rows that are not a document-less import: an import
        # batch whose edges it does not name projects them from its own staged rows (graph_sql)
        indexes = [
            models.Index(fields=["source_entity"], name="knowledge_rel_src"),
            models.Index(fields=["target_entity"], name="knowledge_rel_tgt"),
            models.Index(
                fields=["workspace", "provenance", "document_id"], name="knowledge_rel_prov", condition=_HAS_DOCUMENT
            ),
            models.Index(fields=["document_id"], name="knowledge_rel_doc", condition=_HAS_DOCUMENT),
            models.Index(fields=["source_document_id"], name="knowledge_rel_srcdoc", condition=_HAS_SOURCE_DOCUMENT),
            models.Index(fields=["target_document_id"], name="knowledge_rel_tgtdoc", condition=_HAS_TARGET_DOCUMENT),
            models.Index(
                fields=["workspace", "label", "source_entity", "target_entity"],
                name="knowledge_rel_evidence",
                condition=_HAS_DOCUMENT | ~Q(provenance=IMPORT_PROVENANCE),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.provenance})"


class ExtractionRun(models.Model):
    """The last extraction of a document by one extractor: re-running it on the same content
    and configuration changes nothing."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    document_id = models.BigIntegerField()
    extractor = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    config_hash = models.CharField(max_length=64)
    entities = models.IntegerField(default=0)
    relations = models.IntegerField(default=0)
    facts = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document_id", "extractor"], name="knowledge_run_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.extractor} doc {self.document_id}"
