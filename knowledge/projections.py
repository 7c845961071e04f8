"""The knowledge app's projections (core/projections.py): the graph is written from the rows.

``knowledge.project_graph`` (GraphStore) handles ``knowledge.graph.changed``: it writes the named
entities' nodes (or deletes the nodes of entities that are gone or merged), the named documents'
``DocumentRef`` nodes (deleted when no relation names the document any more) and the named edges
as the aggregate of their relation rows (deleted when none is left). It reads the rows as they
are now, so a late, repeated or out-of-order delivery writes the current state (idempotent).
Every key goes through ``knowledge.stores``' workspace namespace.

Fact vectors cost an embedding call, so they are not a projection run inline: the handler
``knowledge.embed_facts`` (knowledge/handlers.py) writes them after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection

from core.models import OutboxEvent
from core.projections import projection
from core.storage.ports import Edge, GraphStore, Node, NodeNotFound
from knowledge import graph_sql, stores
from knowledge.models import Relation
from knowledge.writes import EVENT_GRAPH_CHANGED, Triple, aggregate_edges, int_array

BATCH = 5000
logger = logging.getLogger(__name__)


ENTITY_FIELDS = ("id", "workspace_id", "key", "name", "type__name", "aliases", "properties")


def entity_node(row: tuple) -> Node:
    """The node of an entity, from its ``ENTITY_FIELDS`` values."""
    pk, workspace_id, key, name, type_name, aliases, properties = row
    return Node(
        stores.ENTITY_LABEL,
        stores.node_key(workspace_id, key),
        {
            **{k: v for k, v in (properties or {}).items() if k != "key" and not k.startswith("_strata")},
            "workspace_id": workspace_id,
            "entity_id": pk,
            "name": name,
            "type": type_name,
            "aliases": list(aliases),
        },
    )


def _entity_rows(workspace_id: int, ids: set[int]) -> dict[int, tuple]:
    """``ENTITY_FIELDS`` of the live (unmerged) entities among ``ids``."""
    return {pk: row for pk, (row, merged) in _entities(workspace_id, ids).items() if not merged}


_ENTITIES_SQL = (
    "SELECT e.id, e.workspace_id, e.key, e.name, t.name, e.aliases, e.properties, e.merged_into_id IS NOT NULL "
    "FROM knowledge_entity e JOIN knowledge_entitytype t ON t.id = e.type_id "
    "WHERE e.workspace_id = %s AND e.id = ANY(%s::bigint[])"
)


def _entities(workspace_id: int, ids: set[int]) -> dict[int, tuple[tuple, bool]]:
    """id -> (``ENTITY_FIELDS`` values, merged?) of the entities among ``ids``: one query with
    the ids as one array parameter (an ``IN`` list of thousands of parameters cost more to
    build than to run)."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_ENTITIES_SQL, [int(workspace_id), int_array(sorted(int(i) for i in ids))])
        rows = cursor.fetchall()
    found = {}
    for pk, ws, key, name, type_name, aliases, properties, merged in rows:
        if isinstance(properties, str | bytes):
            properties = orjson.loads(properties)
        found[pk] = ((pk, ws, key, name, type_name, aliases, properties), merged)
    return found


def document_node(workspace_id: int, document_id: int) -> Node:
    ref = stores.document_ref(workspace_id, document_id)
    return Node(ref.label, ref.key, {"workspace_id": workspace_id, "document_id": int(document_id)})


def _triples(payload: dict[str, Any]) -> list[Triple]:
    """The edges an event names: listed, and those of the relation rows it names by id ranges
    (the rows there now: a row deleted since was named by its deleter's event too)."""
    triples = [(label, (sk, int(sv)), (tk, int(tv))) for label, sk, sv, tk, tv in payload.get("edges") or []]
    ranges = payload.get("relations") or []
    if ranges:
        with connection.cursor() as cursor:
            cursor.execute(graph_sql.RANGE_TRIPLES, _range_params(int(payload["workspace_id"]), ranges))
            for label, se, sd, te, td in cursor.fetchall():
                source = ("e", se) if se is not None else ("d", sd)
                triples.append((label, source, ("e", te) if te is not None else ("d", td)))
    return sorted(set(triples))


def _range_params(workspace_id: int, ranges: list[list[int]]) -> dict[str, Any]:
    return {
        "ws": workspace_id,
        "firsts": int_array([int(first) for first, _ in ranges]),
        "lasts": int_array([int(last) for _, last in ranges]),
    }


@projection(EVENT_GRAPH_CHANGED, name="knowledge.project_graph", app=stores.APP, kind="graph")
def project_graph(event: OutboxEvent, store: GraphStore) -> None:
    payload = event.payload
    workspace_id = int(payload["workspace_id"])
    edges = payload.get("edges") or []
    store.define_node_label(stores.ENTITY_LABEL)
    store.define_node_label(stores.DOCUMENT_LABEL)
    for label in sorted({edge[0] for edge in edges} | set(payload.get("relation_labels") or [])):
        store.define_edge_type(label)
    if _project_in_database(store, workspace_id, payload):
        return
    triples = _triples(payload)
    for start in range(0, max(len(triples), 1), BATCH):
        _project(store, workspace_id, payload if start == 0 else {}, triples[start : start + BATCH])


def _project_in_database(store: GraphStore, workspace_id: int, payload: dict[str, Any]) -> bool:
    """The set-based path (knowledge/graph_sql.py) where the store offers it (``load_query``:
    a store in this database) and the event names only live entities and edges with rows
    between them; False when the Python path must run (it writes the current state, so running
    it after this one is safe)."""
    load = getattr(store, "load_query", None)
    if load is None or payload.get("documents"):
        return False
    named, edges = payload.get("entities") or [], payload.get("edges") or []
    params = {
        "prefix": stores.prefix(workspace_id),
        "entity": stores.ENTITY_LABEL,
        "named": orjson.dumps(named).decode(),
        "edges": orjson.dumps(edges).decode(),
        **_range_params(workspace_id, payload.get("relations") or []),
    }
    edges_query = graph_sql.EDGES
    origin = graph_sql.staged_provenance()
    if origin is not None and getattr(store, "using", None) == DEFAULT_DB_ALIAS:  # the import's session
        params["origin"] = origin
        with connection.cursor() as cursor:
            cursor.execute(graph_sql.STAGED_ONLY, params)
            if cursor.fetchone()[0]:
                edges_query = graph_sql.STAGED_EDGES
                logger.debug("knowledge.project_graph: %d edges from the import batch's staged rows", len(edges))
    try:
        loaded = load(nodes=graph_sql.NODES, edges=edges_query, params=params)
    except (NodeNotFound, DatabaseError):  # an end without its node, a value the store refuses
        return False
    return loaded == (len({int(pk) for pk, _ in named}), len(edges) + int(payload.get("relation_rows") or 0))


def _project(store: GraphStore, workspace_id: int, payload: dict[str, Any], triples: list[Triple]) -> None:
    named = {int(i): key for i, key in payload.get("entities") or []}
    entity_ids = set(named) | {v for _, s, t in triples for k, v in (s, t) if k == "e"}
    found = _entities(workspace_id, entity_ids)
    keys = {pk: row[2] for pk, (row, _) in found.items()}
    keys.update((pk, key) for pk, key in named.items() if pk not in keys)  # deleted rows: the event's key
    live_named = {pk: found[pk][0] for pk in named if pk in found and not found[pk][1]}
    live_ends = {pk for pk, (_, merged) in found.items() if not merged}
    documents = {int(d) for d in payload.get("documents") or []} | {
        v for _, s, t in triples for k, v in (s, t) if k == "d"
    }
    referenced = _referenced_documents(workspace_id, documents)
    edges = aggregate_edges(workspace_id, triples)
    nodes = [entity_node(row) for _, row in sorted(live_named.items())]
    nodes += [document_node(workspace_id, d) for d in sorted(referenced)]
    # edges whose ends both live; the others are deleted
    keep, drop = [], []
    for triple in triples:
        label, source, target = triple
        alive = all(kind == "d" or value in live_ends for kind, value in (source, target))
        if triple in edges and alive:
            weight, properties, provenance = edges[triple]
            props = {**properties, "weight": weight, "provenance": provenance[:20], "workspace_id": workspace_id}
            keep.append(Edge(label, _ref(workspace_id, source, keys), _ref(workspace_id, target, keys), props))
        else:
            drop.append(triple)
    try:
        store.bulk_load(nodes=nodes, edges=keep)
    except NodeNotFound:
        # an endpoint's node was never written (an event delivered out of order, a store
        # restored from a backup): write every endpoint of the kept edges, then the edges
        ends = {v for t in triples if t in edges for k, v in (t[1], t[2]) if k == "e"} - set(live_named)
        nodes += [entity_node(row) for _, row in sorted(_entity_rows(workspace_id, ends).items())]
        store.bulk_load(nodes=nodes, edges=keep)
    for label, source, target in drop:
        refs = [_ref(workspace_id, end, keys) for end in (source, target)]
        if all(refs):
            store.delete_edge(label, refs[0], refs[1])
    for pk, key in sorted(named.items()):
        if pk not in live_named:
            store.delete_node(stores.entity_ref(workspace_id, key))
    for document_id in sorted(documents - referenced):
        store.delete_node(stores.document_ref(workspace_id, document_id))


def _ref(workspace_id: int, end: tuple[str, int], keys: dict[int, str]) -> Any:
    kind, value = end
    if kind == "d":
        return stores.document_ref(workspace_id, value)
    key = keys.get(value)
    return stores.entity_ref(workspace_id, key) if key is not None else None


def _referenced_documents(workspace_id: int, document_ids: set[int]) -> set[int]:
    """The documents some relation row has as an end (they get a node)."""
    if not document_ids:
        return set()
    ids = list(document_ids)
    sources = Relation.objects.filter(workspace_id=workspace_id, source_document_id__in=ids).values_list(
        "source_document_id", flat=True
    )
    targets = Relation.objects.filter(workspace_id=workspace_id, target_document_id__in=ids).values_list(
        "target_document_id", flat=True
    )
    return set(sources.distinct()) | set(targets.distinct())
