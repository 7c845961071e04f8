"""Writing relations and facts: rows and an outbox event in the caller's transaction; the
graph edges and fact vectors follow from the event (knowledge/projections.py).

Relations are evidence rows keyed by (label, source, target, provenance, document); the graph
edge (label, source, target) aggregates them. ``relations_replace`` swaps exactly the rows of
one provenance in one document (what one extractor found there) and nothing else;
``relations_add`` merges rows into the existing ones (imports: a repeated edge is updated, never
stored twice)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q, QuerySet

from core.services import outbox_publish
from knowledge.models import RELATION_IDENTITY, Entity, Fact, FactSource, Relation
from knowledge.normalize import normalize_name

EVENT_GRAPH_CHANGED = "knowledge.graph.changed"
EVENT_FACTS_CHANGED = "knowledge.facts.changed"

# an endpoint: ("e", entity id) or ("d", document id); a triple: (label, source, target)
Endpoint = tuple[str, int]
Triple = tuple[str, Endpoint, Endpoint]


@dataclass(frozen=True)
class RelationRow:
    label: str
    source: Endpoint
    target: Endpoint
    weight: float = 1.0
    properties: Mapping[str, Any] = field(default_factory=dict)


def _columns(end: Endpoint) -> tuple[int | None, int | None]:
    kind, value = end
    return (int(value), None) if kind == "e" else (None, int(value))


def _endpoint(entity_id: int | None, document_id: int | None) -> Endpoint:
    return ("e", int(entity_id)) if entity_id is not None else ("d", int(document_id))


def row_triple(row: Relation) -> Triple:
    return (
        row.label,
        _endpoint(row.source_entity_id, row.source_document_id),
        _endpoint(row.target_entity_id, row.target_document_id),
    )


def _combine(rows: Iterable[RelationRow], *, sum_duplicates: bool = True) -> dict[Triple, RelationRow]:
    """Duplicates within one write merge: weights add up (or the later one wins), later
    properties win."""
    combined: dict[Triple, RelationRow] = {}
    for row in rows:
        triple = (row.label, row.source, row.target)
        before = combined.get(triple)
        if before is not None:
            row = RelationRow(
                row.label,
                row.source,
                row.target,
                before.weight + row.weight if sum_duplicates else row.weight,
                {**before.properties, **row.properties},
            )
        combined[triple] = row
    return combined


def _build(workspace_id: int, row: RelationRow, provenance: str, document_id: int | None) -> Relation:
    se, sd = _columns(row.source)
    te, td = _columns(row.target)
    return Relation(
        workspace_id=workspace_id,
        label=row.label,
        source_entity_id=se,
        source_document_id=sd,
        target_entity_id=te,
        target_document_id=td,
        properties=dict(row.properties),
        weight=float(row.weight),
        provenance=provenance[:200],
        document_id=document_id,
    )


def relations_replace(
    *, workspace_id: int, provenance: str, document_id: int | None, rows: Iterable[RelationRow]
) -> set[Triple]:
    """Replace the relation rows of (provenance, document) with ``rows``; returns every triple
    whose evidence changed (old and new)."""
    old = Relation.objects.filter(workspace_id=workspace_id, provenance=provenance, document_id=document_id)
    before = {row_triple(r): (r.weight, r.properties) for r in old}
    combined = _combine(rows)
    after = {t: (float(r.weight), dict(r.properties)) for t, r in combined.items()}
    if before == after:
        return set()
    old.delete()
    Relation.objects.bulk_create([_build(workspace_id, r, provenance, document_id) for r in combined.values()])
    return {t for t in before.keys() | after.keys() if before.get(t) != after.get(t)}


def relations_add(
    *, workspace_id: int, provenance: str, rows: Iterable[RelationRow], sum_duplicates: bool = True
) -> set[Triple]:
    """Upsert relation rows (document-less provenance, e.g. an import): a row that exists gets
    the new weight and properties."""
    combined = _combine(rows, sum_duplicates=sum_duplicates)
    if not combined:
        return set()
    Relation.objects.bulk_create(
        [_build(workspace_id, r, provenance, None) for r in combined.values()],
        update_conflicts=True,
        unique_fields=list(RELATION_IDENTITY),
        update_fields=["weight", "properties"],
    )
    return set(combined)


def publish_graph_change(
    *,
    workspace_id: int,
    triples: Iterable[Triple] = (),
    entities: Iterable[Entity] = (),
    gone_entities: Iterable[tuple[int, str]] = (),
    documents: Iterable[int] = (),
) -> None:
    """The event whose projection writes the named entities' nodes, the named documents' nodes
    (or removes them) and the named edges (or removes them) as the rows now say."""
    triples = sorted(set(triples))
    entity_pairs = sorted({(e.pk, e.key) for e in entities} | set(gone_entities))
    document_ids = sorted({int(d) for d in documents} | {v for _, s, t in triples for k, v in (s, t) if k == "d"})
    if not (triples or entity_pairs or document_ids):
        return
    outbox_publish(
        event_type=EVENT_GRAPH_CHANGED,
        payload={
            "workspace_id": int(workspace_id),
            "entities": [list(pair) for pair in entity_pairs],
            "documents": document_ids,
            "edges": [[label, s[0], s[1], t[0], t[1]] for label, s, t in triples],
        },
        workspace_id=int(workspace_id),
    )


@dataclass(frozen=True)
class RelationRanges:
    """Relation rows an event names by id (``[first, last]`` ranges of consecutive ids: a bulk
    write's rows), ``rows`` of them, with these ``labels``: each row is one edge to project
    (its aggregate over every row of that edge)."""

    ranges: list[list[int]]
    rows: int
    labels: list[str]


def publish_graph_payload(
    *,
    workspace_id: int,
    edges: list[list[Any]],
    entities: list[list[Any]],
    documents: list[int],
    relations: RelationRanges | None = None,
) -> None:
    """``publish_graph_change`` for a caller that built the event's lists itself, as it builds
    them: distinct and sorted, edges as [label, kind, id, kind, id], every document end among
    the documents (graph_import's set-based path, whose lists come from SQL). ``relations``
    names more edges by their rows' ids (``relations``, ``relation_rows`` and
    ``relation_labels`` in the payload; none of them among ``edges``): a large batch's event
    stays a few ranges long instead of listing every edge."""
    payload: dict[str, Any] = {
        "workspace_id": int(workspace_id),
        "entities": entities,
        "documents": documents,
        "edges": edges,
    }
    if relations is not None and relations.rows:
        payload.update(relations=relations.ranges, relation_rows=int(relations.rows), relation_labels=relations.labels)
    if edges or entities or documents or "relations" in payload:
        outbox_publish(event_type=EVENT_GRAPH_CHANGED, payload=payload, workspace_id=int(workspace_id))


# ---------------------------------------------------------------- facts


def statement_hash(statement: str) -> str:
    return hashlib.sha256(normalize_name(statement).encode()).hexdigest()


@dataclass(frozen=True)
class FactRow:
    statement: str
    entity_ids: tuple[int, ...] = ()


def facts_replace(*, workspace_id: int, provenance: str, document_id: int | None, facts: Iterable[FactRow]) -> set[int]:
    """Make (provenance, document) the source of exactly these facts: sources it no longer
    states are removed (a fact without sources is deleted), new facts are created (one per
    normalized statement in the workspace). Returns the ids of facts created or deleted."""
    wanted: dict[str, FactRow] = {}
    for fact in facts:
        statement = " ".join(str(fact.statement).split())[:4000]
        if statement:
            wanted.setdefault(statement_hash(statement), FactRow(statement, tuple(fact.entity_ids)))
    current = dict(
        FactSource.objects.filter(
            fact__workspace_id=workspace_id, provenance=provenance, document_id=document_id
        ).values_list("fact__statement_hash", "fact_id")
    )
    changed: set[int] = set()
    dropped = [fact_id for digest, fact_id in current.items() if digest not in wanted]
    if dropped:
        FactSource.objects.filter(fact_id__in=dropped, provenance=provenance, document_id=document_id).delete()
        orphans = list(Fact.objects.filter(pk__in=dropped, sources__isnull=True).values_list("pk", flat=True))
        Fact.objects.filter(pk__in=orphans).delete()
        changed.update(orphans)
    new = {digest: row for digest, row in wanted.items() if digest not in current}
    if new:
        Fact.objects.bulk_create(
            [Fact(workspace_id=workspace_id, statement=r.statement, statement_hash=d) for d, r in new.items()],
            ignore_conflicts=True,
        )
        ids = dict(
            Fact.objects.filter(workspace_id=workspace_id, statement_hash__in=list(new)).values_list(
                "statement_hash", "pk"
            )
        )
        FactSource.objects.bulk_create(
            [FactSource(fact_id=ids[d], document_id=document_id, provenance=provenance[:200]) for d in new],
            ignore_conflicts=True,
        )
        through = Fact.entities.through
        through.objects.bulk_create(
            [through(fact_id=ids[d], entity_id=e) for d, r in new.items() for e in set(r.entity_ids)],
            ignore_conflicts=True,
        )
        changed.update(ids.values())
    return changed


def publish_facts_change(*, workspace_id: int, fact_ids: Iterable[int]) -> None:
    ids = sorted({int(i) for i in fact_ids})
    if ids:
        outbox_publish(
            event_type=EVENT_FACTS_CHANGED,
            payload={"workspace_id": int(workspace_id), "fact_ids": ids},
            workspace_id=int(workspace_id),
        )


def document_relations(workspace_id: int, document_ids: list[int]) -> QuerySet[Relation]:
    """The rows that come from these documents or have one as an end."""
    touching = Q(document_id__in=document_ids) | Q(source_document_id__in=document_ids)
    return Relation.objects.filter(touching | Q(target_document_id__in=document_ids), workspace_id=workspace_id)


def aggregate_edges(workspace_id: int, triples: list[Triple]) -> dict[Triple, tuple[float, dict[str, Any], list[str]]]:
    """(weight sum, merged properties, provenances) of each triple that has rows, in one query.

    The triples travel as integer arrays written as array literals (psycopg's per-element
    adaptation cost more than the query on an import batch) and labels as an index into the
    batch's few distinct labels; only non-empty properties are aggregated and parsed."""
    if not triples:
        return {}
    labels = sorted({label for label, _, _ in triples})
    number = {label: i for i, label in enumerate(labels, start=1)}
    cols: list[list[int]] = [[], [], [], [], []]
    for label, (sk, sv), (tk, tv) in triples:
        cols[0].append(number[label])
        cols[1].append(int(sv) if sk == "e" else 0)
        cols[2].append(int(sv) if sk == "d" else 0)
        cols[3].append(int(tv) if tk == "e" else 0)
        cols[4].append(int(tv) if tk == "d" else 0)
    query = (
        "SELECT r.label, r.source_entity_id, r.source_document_id, r.target_entity_id, r.target_document_id, "
        "sum(r.weight), jsonb_agg(r.properties ORDER BY r.id) FILTER (WHERE r.properties <> '{}'), "
        "array_agg(DISTINCT r.provenance) "
        "FROM knowledge_relation r JOIN unnest(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
        "AS t(li, se, sd, te, td) ON r.label = (%s::text[])[t.li] AND coalesce(r.source_entity_id, 0) = t.se "
        "AND coalesce(r.source_document_id, 0) = t.sd AND coalesce(r.target_entity_id, 0) = t.te "
        "AND coalesce(r.target_document_id, 0) = t.td "
        "WHERE r.workspace_id = %s "
        "AND (r.source_entity_id = ANY(%s::bigint[]) OR r.source_document_id = ANY(%s::bigint[])) "
        "GROUP BY 1, 2, 3, 4, 5"
    )
    found = {}
    with connection.cursor() as cursor:
        sources_e = sorted({v for v in cols[1] if v})
        sources_d = sorted({v for v in cols[2] if v})
        arrays = [int_array(c) for c in (*cols, sources_e, sources_d)]
        cursor.execute(query, [*arrays[:5], labels, int(workspace_id), *arrays[5:]])
        for label, se, sd, te, td, weight, props, provenances in cursor.fetchall():
            merged: dict[str, Any] = {}
            if isinstance(props, str):
                props = orjson.loads(props)
            if isinstance(provenances, str):  # not adapted as an array
                provenances = [provenances]
            for item in props or []:
                merged.update(item or {})
            found[(label, _endpoint(se, sd), _endpoint(te, td))] = (float(weight), merged, sorted(provenances))
    return found


def int_array(values: list[int]) -> str:
    """A PostgreSQL array literal of integers (the values are ``int``: nothing to quote)."""
    return "{" + ",".join(map(str, values)) + "}"
