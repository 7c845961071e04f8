"""Graph queries of one workspace, over the GraphStore port (so they answer the same on AGE and
FalkorDB): neighbours, k-hop neighbourhood, shortest path, reverse transitive traversal, the
entities of a document and the documents of an entity, and the subgraph the explorer draws.

Nodes are named by their *local key* in the workspace: an entity's ``key``, or ``doc:<id>`` for a
document. Every reference is built by ``knowledge.stores`` from the workspace id (the key
namespace), and every result passes ``stores.visible``: nothing of another workspace is ever
returned, even for the same local key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.storage.ports import Direction, Hop, InvalidInput, Node, NodeNotFound, NodeRef, UnknownLabel
from knowledge import stores

MAX_DEPTH = 6
MAX_NODES = 2000
EdgeLabels = Sequence[str] | None


class GraphQueryError(ValueError):
    """A query that cannot be answered as asked (a bad key, label, depth or limit): a 4xx."""


class NodeMissing(LookupError):
    """The start node does not exist in the workspace: a 404."""


@dataclass(frozen=True)
class NodeView:
    key: str  # local key in the workspace
    kind: Literal["entity", "document"]
    name: str
    type: str
    entity_id: int | None = None
    document_id: int | None = None
    depth: int = 0


@dataclass(frozen=True)
class EdgeView:
    label: str
    source: str
    target: str
    weight: float = 1.0
    provenance: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PathView:
    nodes: list[NodeView]
    edges: list[EdgeView]


def ref_for(workspace_id: int, key: str) -> NodeRef:
    """The graph reference of a local key (``doc:<id>`` names a document)."""
    if not isinstance(key, str) or not key or len(key) > 200 or "\x00" in key:
        raise GraphQueryError("a node key is 1-200 characters")
    if key.startswith(stores.DOCUMENT_PREFIX):
        number = key[len(stores.DOCUMENT_PREFIX) :]
        if not (number.isascii() and number.isdigit()) or len(number) > 18:
            raise GraphQueryError(f"invalid document key {key!r}: expected doc:<document id>")
        return stores.document_ref(workspace_id, int(number))
    return stores.entity_ref(workspace_id, key)


def view(workspace_id: int, node: Node, depth: int = 0) -> NodeView | None:
    found = views(workspace_id, [(node, depth)])
    return found[0] if found else None


def views(workspace_id: int, nodes: Iterable[tuple[Node, int]]) -> list[NodeView]:
    """The views of ``(node, depth)`` pairs, leaving out what is not this workspace's entity or
    document (``stores.belongs``). The hot loop of large answers (a popular package's hundreds
    of dependents): the workspace's key prefix is built once, not once per node."""
    start = stores.prefix(workspace_id)
    cut = len(start)
    found = []
    for node, depth in nodes:
        key, label, props = node.key, node.label, node.properties
        if not key.startswith(start):
            continue
        local = key[cut:]
        if label == stores.DOCUMENT_LABEL:
            found.append(NodeView(local, "document", local, "document", None, props.get("document_id"), depth))
        elif label == stores.ENTITY_LABEL:
            name, kind = str(props.get("name", local)), str(props.get("type", ""))
            found.append(NodeView(local, "entity", name, kind, props.get("entity_id"), None, depth))
    return found


def _edge_view(workspace_id: int, edge: Any) -> EdgeView | None:
    source, target = stores.local_key(workspace_id, edge.source.key), stores.local_key(workspace_id, edge.target.key)
    if source is None or target is None:
        return None
    props = dict(edge.properties)
    weight = float(props.pop("weight", 1.0) or 0.0)
    provenance = tuple(props.pop("provenance", []) or [])
    props.pop("workspace_id", None)
    return EdgeView(edge.type, source, target, weight, provenance, props)


def _labels(labels: EdgeLabels) -> list[str] | None:
    """The edge labels asked for (None: all); checked by the port when used."""
    if labels is None:
        return None
    names = list(dict.fromkeys(str(x) for x in labels if str(x)))
    return names or None


def _existing(labels: list[str] | None) -> list[str] | None:
    """Only the labels that exist (after the port refused an unknown one): [] when none does."""
    if labels is None:
        return None
    existing = set(stores.graph().edge_types())
    return [n for n in labels if n in existing]


class _NoSuchLabels(Exception):
    pass


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the port; an unknown edge label asked for is left out (none left: _NoSuchLabels),
    a missing start node or node label is NodeMissing, bad input GraphQueryError."""
    try:
        return fn(*args, **kwargs)
    except NodeNotFound as exc:
        raise NodeMissing(str(exc)) from exc
    except UnknownLabel as exc:
        types = kwargs.get("edge_types")
        if types:
            existing = _existing(types)
            if existing != types:
                if not existing:
                    raise _NoSuchLabels() from exc
                return _call(fn, *args, **{**kwargs, "edge_types": existing})
        raise NodeMissing(str(exc)) from exc
    except InvalidInput as exc:
        raise GraphQueryError(str(exc)) from exc


def _bounded(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GraphQueryError(f"{what} must be a whole number") from None
    if not low <= number <= high:
        raise GraphQueryError(f"{what} must be between {low} and {high}")
    return number


def neighbours(
    *, workspace_id: int, key: str, direction: Direction = "both", labels: EdgeLabels = None, limit: int = 200
) -> list[NodeView]:
    """Nodes one edge away, ordered by (label, key)."""
    types = _labels(labels)
    limit = _bounded(limit, "limit", 1, MAX_NODES)
    try:
        found = _call(
            stores.graph().neighbours, ref_for(workspace_id, key), direction=direction, edge_types=types, limit=limit
        )
    except _NoSuchLabels:
        return []
    return views(workspace_id, ((n, 1) for n in found))


def k_hop(
    *,
    workspace_id: int,
    key: str,
    k: int = 2,
    direction: Direction = "both",
    labels: EdgeLabels = None,
    limit: int = MAX_NODES,
) -> list[NodeView]:
    """Distinct nodes within 1..k edges, with their depth; ordered by (depth, label, key)."""
    hops = _hops(workspace_id, key, k, direction, labels, limit)
    return views(workspace_id, ((h.node, h.depth) for h in hops))


def _hops(
    workspace_id: int,
    key: str,
    k: int,
    direction: Direction,
    labels: EdgeLabels,
    limit: int,
    **options: Any,
) -> list[Hop]:
    """The store's ``k_hop`` with the arguments checked (no hops when a label is unknown)."""
    k = _bounded(k, "depth", 1, MAX_DEPTH)
    limit = _bounded(limit, "limit", 1, MAX_NODES)
    types = _labels(labels)
    try:
        return _call(
            stores.graph().k_hop,
            ref_for(workspace_id, key),
            k=k,
            direction=direction,
            edge_types=types,
            limit=limit,
            **options,
        )
    except _NoSuchLabels:
        return []


_KIND_LABELS = {"entity": stores.ENTITY_LABEL, "document": stores.DOCUMENT_LABEL}


def k_hop_keys(
    *,
    workspace_id: int,
    key: str,
    k: int = 2,
    direction: Direction = "both",
    labels: EdgeLabels = None,
    limit: int = MAX_NODES,
    last_kinds: Sequence[str] | None = None,
) -> list[tuple[str, str, int]]:
    """``k_hop`` without the nodes' properties: ``(local key, kind, depth)`` of the same nodes in
    the same order (a document's id is the number in its key, ``doc:<id>``). For callers that
    need no names (graph-aware retrieval): the store neither sends nor parses properties.

    ``last_kinds`` ("entity", "document"): the kinds kept at depth ``k`` (the store's
    ``last_labels``); documents sort before entities at each depth, so with ("document",) the
    answer is k_hop's without its entities at depth k, however the limit cuts it."""
    if last_kinds is not None and not set(last_kinds) <= set(_KIND_LABELS):
        raise GraphQueryError(f"last_kinds are among {', '.join(_KIND_LABELS)}")
    hops = _hops(
        workspace_id,
        key,
        k,
        direction,
        labels,
        limit,
        properties=False,
        last_labels=None if last_kinds is None else [_KIND_LABELS[kind] for kind in last_kinds],
    )
    start = stores.prefix(workspace_id)
    kinds = {label: kind for kind, label in _KIND_LABELS.items()}
    found = []
    for hop in hops:  # what view() keeps: this workspace's entities and documents
        kind = kinds.get(hop.node.label)
        if kind is not None and hop.node.key.startswith(start):
            found.append((hop.node.key[len(start) :], kind, hop.depth))
    return found


def dependents(*, workspace_id: int, key: str, depth: int = 3, label: str = stores.DEPENDS_ON) -> list[NodeView]:
    """Reverse transitive traversal: who has a ``label`` edge to the node, directly or through
    others, up to ``depth`` edges away (``depth`` on each answer)."""
    return k_hop(workspace_id=workspace_id, key=key, k=depth, direction="in", labels=[label])


def shortest_path(
    *,
    workspace_id: int,
    source: str,
    target: str,
    max_depth: int = MAX_DEPTH,
    direction: Direction = "both",
    labels: EdgeLabels = None,
) -> PathView | None:
    max_depth = _bounded(max_depth, "max_depth", 1, MAX_DEPTH)
    types = _labels(labels)
    try:
        path = _call(
            stores.graph().shortest_path,
            ref_for(workspace_id, source),
            ref_for(workspace_id, target),
            max_depth=max_depth,
            direction=direction,
            edge_types=types,
        )
    except _NoSuchLabels:
        return None
    if path is None:
        return None
    nodes = [view(workspace_id, n, i) for i, n in enumerate(path.nodes)]
    edges = [_edge_view(workspace_id, e) for e in path.edges]
    if any(n is None for n in nodes) or any(e is None for e in edges):
        return None
    return PathView(nodes=nodes, edges=edges)  # type: ignore[arg-type]


def subgraph(
    *, workspace_id: int, key: str, depth: int = 1, labels: EdgeLabels = None, limit: int = 150
) -> tuple[list[NodeView], list[EdgeView]]:
    """The node, its neighbourhood within ``depth`` edges (both directions) and the edges among
    them: what the graph explorer draws."""
    depth = _bounded(depth, "depth", 1, 3)
    limit = _bounded(limit, "limit", 1, 500)
    types = _labels(labels)
    start = ref_for(workspace_id, key)
    try:
        found = _call(stores.graph().subgraph, start, depth=depth, direction="both", edge_types=types, limit=limit)
    except _NoSuchLabels:  # no edge of these labels exists: the node alone
        node = _call(stores.graph().get_node, start)
        first = view(workspace_id, node) if node else None
        if first is None:
            raise NodeMissing(key) from None
        return [first], []
    nodes = views(workspace_id, ((n, 0) for n in found.nodes))
    keep = {n.key for n in nodes}
    edges = [e for e in (_edge_view(workspace_id, e) for e in found.edges) if e and {e.source, e.target} <= keep]
    return nodes, edges


def document_entities(*, workspace_id: int, document_id: int, limit: int = 500) -> list[NodeView]:
    """The entities a document has an edge to (MENTIONS and the structured relations)."""
    try:
        found = neighbours(
            workspace_id=workspace_id, key=stores.document_local_key(document_id), direction="out", limit=limit
        )
    except NodeMissing:
        return []
    return [n for n in found if n.kind == "entity"]


def document_edges(*, workspace_id: int, document_id: int, limit: int = 300) -> list[EdgeView]:
    """The relations among a document's entities and from the document (for its page)."""
    try:
        _, edges = subgraph(workspace_id=workspace_id, key=stores.document_local_key(document_id), depth=1, limit=limit)
    except NodeMissing:
        return []
    return edges


def entity_documents(*, workspace_id: int, key: str, limit: int = 500) -> list[NodeView]:
    """The documents with an edge to the entity."""
    return [
        n for n in neighbours(workspace_id=workspace_id, key=key, direction="in", limit=limit) if n.kind == "document"
    ]
