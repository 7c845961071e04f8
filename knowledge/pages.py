"""Reads behind the knowledge pages, scoped to one workspace: the entity list, the entity page
and the panel the document page shows (its entities and relations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, Func, Q, TextField, Value
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from content import selectors as content
from knowledge import queries
from knowledge.models import Entity, EntityType, Fact, FactSource

ENTITIES_PER_PAGE = 50


def entity_list(*, workspace_id: int, q: str = "", type_name: str = "", page: Any = 1) -> Page:
    entities = Entity.objects.filter(workspace_id=workspace_id, merged_into=None).select_related("type")
    q = (q or "").strip()[:200]
    if q:
        aliases = Func(F("aliases"), Value(" | "), function="array_to_string", output_field=TextField())
        entities = entities.annotate(alias_text=aliases).filter(
            Q(name__icontains=q) | Q(key__icontains=q) | Q(alias_text__icontains=q)
        )
    if type_name:
        entities = entities.filter(type__name=type_name[:50])
    return Paginator(entities.order_by("name", "id"), ENTITIES_PER_PAGE).get_page(page)


def entity_types(*, workspace_id: int) -> list[str]:
    return sorted(
        set(
            EntityType.objects.filter(Q(workspace_id=workspace_id) | Q(workspace__isnull=True)).values_list(
                "name", flat=True
            )
        )
    )


@dataclass
class EntityPage:
    entity: Entity
    facts: list[tuple[Fact, list[tuple[int, str]]]] = field(default_factory=list)
    documents: list[tuple[int, str, str]] = field(default_factory=list)  # (id, external id, title)
    neighbours: list[queries.NodeView] = field(default_factory=list)
    edges: list[queries.EdgeView] = field(default_factory=list)
    merged: list[Entity] = field(default_factory=list)


def entity_page(*, workspace_id: int, entity_id: int) -> EntityPage | None:
    entity = (
        Entity.objects.filter(pk=entity_id, workspace_id=workspace_id).select_related("type", "merged_into").first()
    )
    if entity is None:
        return None
    page = EntityPage(entity=entity, merged=list(Entity.objects.filter(merged_into=entity).order_by("id")))
    if entity.merged_into_id is not None:
        return page
    facts = list(entity.facts.order_by("id")[:100])
    sources: dict[int, list[int]] = {}
    for fact_id, doc_id in FactSource.objects.filter(fact__in=facts, document_id__isnull=False).values_list(
        "fact_id", "document_id"
    ):
        sources.setdefault(fact_id, []).append(doc_id)
    try:
        nodes, edges = queries.subgraph(workspace_id=workspace_id, key=entity.key, depth=1, limit=200)
    except queries.NodeMissing:
        nodes, edges = [], []
    doc_ids = {n.document_id for n in nodes if n.kind == "document" and n.document_id} | {
        d for ids in sources.values() for d in ids
    }
    labels = content.document_labels(workspace_id=workspace_id, document_ids=doc_ids)
    page.facts = [(f, [(d, labels[d][1]) for d in sources.get(f.pk, []) if d in labels]) for f in facts]
    page.documents = sorted(
        (n.document_id, *labels[n.document_id]) for n in nodes if n.kind == "document" and n.document_id in labels
    )
    page.neighbours = [n for n in nodes[1:] if n.kind == "entity"]
    page.edges = [e for e in edges if entity.key in (e.source, e.target)]
    return page


def document_panel(*, workspace_id: int, document_id: int) -> SafeString:
    """The document page's "Related in the knowledge graph" section (STRATA_DOCUMENT_PANELS): the
    document's entities and the relations among them."""
    found = queries.document_entities(workspace_id=workspace_id, document_id=document_id)
    edges = queries.document_edges(workspace_id=workspace_id, document_id=document_id)
    names = {e.key: e.name for e in found}
    entities = [(e.name, e.type, e.entity_id) for e in found]
    relations = [
        (names[e.source], e.label, names[e.target], e.weight) for e in edges if e.source in names and e.target in names
    ]
    context = {"entities": entities, "relations": relations, "doc_key": f"doc:{int(document_id)}"}
    return render_to_string("knowledge/_document_panel.html", context)
