"""Extraction of documents: run the configured extractors (outside any transaction: the LLM one
calls the network), then replace what each found in the document before, in one short
transaction per document and extractor (rows + an outbox event; the graph follows by projection).

Idempotent: an unchanged document (same content hash) with an unchanged extractor
configuration is skipped (``ExtractionRun``); a changed one replaces exactly the relations and
fact sources of provenance ``extractor:<name>`` in that document, and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction

from content import selectors as content
from knowledge import entities as entity_rows
from knowledge import writes
from knowledge.entities import EntitySpec
from knowledge.extraction import Extracted, Extractor, SourceDocument, configured
from knowledge.models import Entity, ExtractionRun, Fact, FactSource
from knowledge.normalize import normalize_name
from knowledge.writes import FactRow, RelationRow

logger = logging.getLogger(__name__)


@dataclass
class ExtractionSummary:
    extracted: int = 0
    unchanged: int = 0
    missing: int = 0


def provenance(extractor: Extractor) -> str:
    return f"extractor:{extractor.name}"


def documents_extract(
    *,
    workspace_id: int,
    document_ids: Sequence[int],
    extractors: Sequence[Extractor] | None = None,
    force: bool = False,
) -> ExtractionSummary:
    """Extract the workspace's documents with every configured extractor (``force``: even those
    unchanged since their last run)."""
    extractors = configured() if extractors is None else extractors
    summary = ExtractionSummary()
    sources = content.document_sources(workspace_id=workspace_id, document_ids=document_ids)
    summary.missing = len(set(document_ids)) - len(sources)
    for view in sources:
        document = SourceDocument(
            id=view.id,
            workspace_id=view.workspace_id,
            title=view.title,
            text=view.text,
            metadata=view.metadata,
            content_hash=view.content_hash,
        )
        for extractor in extractors:
            if not force and _up_to_date(document, extractor):
                summary.unchanged += 1
                continue
            found = extractor.extract(document)  # outside any transaction
            extraction_apply(document=document, extractor=extractor, found=found)
            summary.extracted += 1
    return summary


def _up_to_date(document: SourceDocument, extractor: Extractor) -> bool:
    return ExtractionRun.objects.filter(
        document_id=document.id,
        extractor=extractor.name,
        content_hash=document.content_hash,
        config_hash=extractor.config_hash,
    ).exists()


def extraction_apply(*, document: SourceDocument, extractor: Extractor, found: Extracted) -> None:
    """Replace what ``extractor`` found in ``document`` before with ``found`` (one transaction)."""
    workspace_id, source = document.workspace_id, provenance(extractor)
    with transaction.atomic():
        entity_rows.lock_workspace(workspace_id)
        current = content.document_sources(workspace_id=workspace_id, document_ids=[document.id])
        if not current or current[0].content_hash != document.content_hash:
            return  # deleted or changed meanwhile: the deletion cleans up, the newer version's event extracts it
        specs = _entity_specs(found)
        resolved, changed = entity_rows.resolve(workspace_id, specs, origin=source)
        by_name = {}
        for spec, entity in zip(specs, resolved, strict=True):
            for name in (spec.name, *spec.aliases):
                by_name.setdefault(normalize_name(name), entity)
        rows = list(_relation_rows(found, by_name, document.id))
        triples = writes.relations_replace(
            workspace_id=workspace_id, provenance=source, document_id=document.id, rows=rows
        )
        facts = [
            FactRow(f.statement, tuple(by_name[n].pk for n in map(normalize_name, f.entities) if n in by_name))
            for f in found.facts
        ]
        fact_ids = writes.facts_replace(
            workspace_id=workspace_id, provenance=source, document_id=document.id, facts=facts
        )
        writes.publish_graph_change(
            workspace_id=workspace_id,
            triples=triples,
            entities=[e for e in resolved if e.pk in changed],
            documents=[document.id],
        )
        writes.publish_facts_change(workspace_id=workspace_id, fact_ids=fact_ids)
        ExtractionRun.objects.update_or_create(
            document_id=document.id,
            extractor=extractor.name,
            defaults={
                "workspace_id": workspace_id,
                "content_hash": document.content_hash,
                "config_hash": extractor.config_hash,
                "entities": len({e.pk for e in resolved}),
                "relations": len(rows),
                "facts": len(facts),
            },
        )


def _entity_specs(found: Extracted) -> list[EntitySpec]:
    specs, seen = [], set()
    for entity in found.entities:
        norm = normalize_name(entity.name)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        try:
            kind = entity_rows.type_name(entity.type)
        except entity_rows.KnowledgeInputError:
            kind = entity_rows.DEFAULT_TYPE
        specs.append(EntitySpec(name=entity.name[:255], type=kind, aliases=tuple(entity.aliases)))
    return specs


def _relation_rows(found: Extracted, by_name: dict[str, Entity], document_id: int) -> Iterable[RelationRow]:
    for relation in found.relations:
        target = by_name.get(normalize_name(relation.target))
        if relation.source is None:
            source: tuple[str, int] | None = ("d", document_id)
        else:
            entity = by_name.get(normalize_name(relation.source))
            source = ("e", entity.pk) if entity is not None else None
        if target is None or source is None or source == ("e", target.pk):
            continue
        yield RelationRow(relation.label, source, ("e", target.pk), relation.weight, dict(relation.properties))


def document_forget(*, workspace_id: int, document_id: int) -> None:
    """A deleted document: remove every relation that came from it or points at it, its fact
    sources (facts left without a source go) and its extraction runs (one transaction)."""
    with transaction.atomic():
        entity_rows.lock_workspace(workspace_id)
        rows = writes.document_relations(workspace_id, [document_id])
        triples = {writes.row_triple(r) for r in rows}
        rows.delete()
        fact_ids = set(
            FactSource.objects.filter(fact__workspace_id=workspace_id, document_id=document_id).values_list(
                "fact_id", flat=True
            )
        )
        FactSource.objects.filter(fact_id__in=fact_ids, document_id=document_id).delete()
        orphans = set(Fact.objects.filter(pk__in=fact_ids, sources__isnull=True).values_list("pk", flat=True))
        Fact.objects.filter(pk__in=orphans).delete()
        ExtractionRun.objects.filter(workspace_id=workspace_id, document_id=document_id).delete()
        writes.publish_graph_change(workspace_id=workspace_id, triples=triples, documents=[document_id])
        writes.publish_facts_change(workspace_id=workspace_id, fact_ids=orphans)
