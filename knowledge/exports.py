"""graph_export: a workspace's entities and relations written in graph_import's JSON Lines
format (knowledge/imports.py reads it back)."""

from __future__ import annotations

import json
from typing import IO

from content import selectors as content
from knowledge import stores
from knowledge.models import Entity, Relation


def graph_export(*, workspace_id: int, out: IO[str], batch: int = 5000) -> tuple[int, int]:
    """Write the workspace's entities and relations (one edge per label, source and target:
    weights summed, properties merged) in the import format; (nodes, edges) written."""
    nodes = edges = 0
    keys: dict[int, str] = {}
    rows = (
        Entity.objects.filter(workspace_id=workspace_id, merged_into=None)
        .order_by("id")
        .values_list("id", "key", "name", "type__name", "aliases", "properties")
    )
    for pk, key, name, type_name, aliases, properties in rows.iterator(chunk_size=batch):
        keys[pk] = key
        props = {**(properties or {}), "name": name}
        if aliases:
            props["aliases"] = aliases
        out.write(json.dumps({"kind": "node", "key": key, "label": type_name, "properties": props}) + "\n")
        nodes += 1
    doc_ids = set(
        Relation.objects.filter(workspace_id=workspace_id, source_document_id__isnull=False).values_list(
            "source_document_id", flat=True
        )
    ) | set(
        Relation.objects.filter(workspace_id=workspace_id, target_document_id__isnull=False).values_list(
            "target_document_id", flat=True
        )
    )
    labels = content.document_labels(workspace_id=workspace_id, document_ids=doc_ids) if doc_ids else {}
    doc_names = {doc_id: labels[doc_id][0] if doc_id in labels else "" for doc_id in doc_ids}
    relations = Relation.objects.filter(workspace_id=workspace_id).order_by(
        "label", "source_entity_id", "source_document_id", "target_entity_id", "target_document_id", "id"
    )
    current: tuple | None = None
    weight, props = 0.0, {}

    def end_key(entity_id: int | None, document_id: int | None) -> str | None:
        if entity_id is not None:
            return keys.get(entity_id)
        name = doc_names.get(document_id, "")
        return f"{stores.DOCUMENT_PREFIX}{name}" if name else None

    def emit() -> int:
        label, se, sd, te, td = current  # type: ignore[misc]
        source, target = end_key(se, sd), end_key(te, td)
        if source is None or target is None:
            return 0
        line = {
            "kind": "edge",
            "source": source,
            "target": target,
            "label": label,
            "properties": {**props, "weight": weight},
        }
        out.write(json.dumps(line) + "\n")
        return 1

    for r in relations.values_list(
        "label",
        "source_entity_id",
        "source_document_id",
        "target_entity_id",
        "target_document_id",
        "weight",
        "properties",
    ).iterator(chunk_size=batch):
        identity = r[:5]
        if identity != current:
            if current is not None:
                edges += emit()
            current, weight, props = identity, 0.0, {}
        weight += r[5]
        props.update(r[6] or {})
    if current is not None:
        edges += emit()
    return nodes, edges
