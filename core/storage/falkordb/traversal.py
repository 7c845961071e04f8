"""Traversals of the FalkorDB graph: a breadth-first walk, one query per level over internal
node ids, never ``[*1..k]`` variable-length patterns (FalkorDB 4 silently dropped nodes reached
by converging paths with ``RETURN DISTINCT``, upstream issue #2157). Ordering by (depth, label,
key) happens here, in code-point order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.storage.falkordb import values
from core.storage.falkordb.base import FalkorBase, quoted
from core.storage.graph_search import BidirectionalSearch
from core.storage.ports import Edge, Hop, Node, NodeRef, Path, Subgraph

_REVERSE = {"out": "in", "in": "out", "both": "both"}


def _pattern(direction: str, types: Sequence[str] | None) -> str:
    """``(a)-[r:T1|T2]->(b)`` walking ``direction`` from ``a``."""
    kinds = ":" + "|".join(quoted(name) for name in types) if types else ""
    if direction == "out":
        return f"(a)-[r{kinds}]->(b)"
    if direction == "in":
        return f"(a)<-[r{kinds}]-(b)"
    return f"(a)-[r{kinds}]-(b)"


class TraversalMixin(FalkorBase):
    def _step(self, frontier: Sequence[int], direction: str, types: Sequence[str] | None) -> list[tuple[int, int, int]]:
        """(from id, to id, edge id) of every step leaving the frontier."""
        if not frontier:
            return []
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (a) WHERE id(a) = i MATCH {_pattern(direction, types)} RETURN id(a), id(b), id(r)",
            {"ids": list(frontier)},
        )
        return sorted((a, b, r) for a, b, r in rows)

    def _nodes_by_id(self, ids: Sequence[int]) -> dict[int, Node]:
        if not ids:
            return {}
        rows = self._rows("UNWIND $ids AS i MATCH (n) WHERE id(n) = i RETURN id(n), n", {"ids": list(ids)})
        return {node_id: values.node(value) for node_id, value in rows}

    def _refs_by_id(self, ids: Sequence[int] | set[int]) -> dict[int, NodeRef]:
        rows = self._rows(
            "UNWIND $ids AS i MATCH (n) WHERE id(n) = i RETURN id(n), labels(n)[0], n.key", {"ids": list(ids)}
        )
        return {node_id: NodeRef(label, "" if key is None else str(key)) for node_id, label, key in rows}

    def _reach(
        self, ref: NodeRef, depth: int, direction: str, types: Sequence[str] | None
    ) -> tuple[int, dict[int, int]]:
        """The start's id and every node within ``depth`` edges -> its shortest depth (not the start)."""
        start = self._node_id(ref, "start node")
        seen = {start: 0}
        frontier = [start]
        for level in range(1, depth + 1):
            reached = {b for _, b, _ in self._step(frontier, direction, types)}
            frontier = sorted(node for node in reached if node not in seen)
            for node in frontier:
                seen[node] = level
            if not frontier:
                break
        del seen[start]
        return start, seen

    def _ordered(self, depths: dict[int, int], limit: int | None) -> list[tuple[int, Node, int]]:
        nodes = self._nodes_by_id(list(depths))
        rows = sorted(((depths[i], nodes[i], i) for i in nodes), key=lambda row: (row[0], row[1].label, row[1].key))
        return rows if limit is None else rows[:limit]

    def _do_neighbours(self, ref: NodeRef, direction: str, types: list[str] | None, limit: int | None) -> list[Node]:
        start = self._node_id(ref, "start node")
        reached = {b for _, b, _ in self._step([start], direction, types)}
        return [node for _, node, _ in self._ordered(dict.fromkeys(reached, 1), limit)]

    def _do_k_hop(self, ref: NodeRef, k: int, direction: str, types: list[str] | None, limit: int | None) -> list[Hop]:
        _, depths = self._reach(ref, k, direction, types)
        return [Hop(node, depth) for depth, node, _ in self._ordered(depths, limit)]

    def _do_subgraph(self, ref: NodeRef, depth: int, direction: str, types: list[str] | None, limit: int) -> Subgraph:
        start, depths = self._reach(ref, depth, direction, types)
        chosen = self._ordered(depths, limit - 1)
        nodes = {start: self._nodes_by_id([start])[start], **{i: node for _, node, i in chosen}}
        ids = list(nodes)
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (a) WHERE id(a) = i MATCH {_pattern('out', types)} "
            "WHERE id(b) IN $ids RETURN type(r), id(a), id(b), r",
            {"ids": ids},
        )
        edges = [Edge(kind, nodes[a].ref, nodes[b].ref, values.decode(r.properties)) for kind, a, b, r in rows]
        edges.sort(key=lambda e: (e.type, e.source.label, e.source.key, e.target.label, e.target.key))
        return Subgraph(nodes=list(nodes.values()), edges=edges)

    def _do_shortest_path(
        self, source: NodeRef, target: NodeRef, max_depth: int, direction: str, types: list[str] | None
    ) -> Path | None:
        start, end = self._node_id(source, "source node"), self._node_id(target, "target node")
        search = BidirectionalSearch(
            lambda frontier, forward: self._step(frontier, direction if forward else _REVERSE[direction], types)
        )
        found = search.run(start, end, max_depth)
        if found is None:
            return None
        node_ids, edge_ids = found
        nodes = self._nodes_by_id(node_ids)
        edges = self._edges_by_id(edge_ids, nodes)
        return Path(nodes=[nodes[i] for i in node_ids], edges=[edges[i] for i in edge_ids])

    def _edges_by_id(self, ids: Sequence[int], nodes: dict[int, Node]) -> dict[int, Edge]:
        rows: list[list[Any]] = self._rows(
            "UNWIND $ids AS i MATCH (a)-[r]->(b) WHERE id(r) = i RETURN id(r), type(r), id(a), id(b), r",
            {"ids": list(ids)},
        )
        return {
            edge_id: Edge(kind, nodes[a].ref, nodes[b].ref, values.decode(r.properties))
            for edge_id, kind, a, b, r in rows
        }
