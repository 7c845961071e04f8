"""Graph algorithms every adapter can share (they call back into the adapter for its steps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Step = tuple[Any, Any, Any]  # (source node id, target node id, edge id) in the adapter's own ids


class BidirectionalSearch:
    """Shortest path between two graphids: breadth-first from both ends, one level at a time from
    the side with the smaller frontier. ``expand(frontier, forward)`` returns (src, dst, edge id)
    steps; a side's ``parents`` maps each visited node to (previous node, edge id, depth)."""

    def __init__(self, expand: Callable[[Sequence[Any], bool], Sequence[Step]]) -> None:
        self.expand = expand

    def run(self, start: str, end: str, max_depth: int) -> tuple[list[str], list[str]] | None:
        if start == end:
            return [start], []
        sides = [
            {"parents": {start: None}, "frontier": [start], "depth": 0, "forward": True},
            {"parents": {end: None}, "frontier": [end], "depth": 0, "forward": False},
        ]
        while all(side["frontier"] for side in sides) and sides[0]["depth"] + sides[1]["depth"] < max_depth:
            side, other = sorted(sides, key=lambda s: len(s["frontier"]))
            meeting = self._step(side, other)
            if meeting is not None:
                return self._path(sides, meeting)
        return None

    def _step(self, side: dict[str, Any], other: dict[str, Any]) -> str | None:
        """Expand one level of ``side``; the new node closest to the other side's root, if they met."""
        side["depth"] += 1
        parents, frontier = side["parents"], []
        for src, dst, edge_id in self.expand(side["frontier"], side["forward"]):
            if dst not in parents:
                parents[dst] = (src, edge_id, side["depth"])
                frontier.append(dst)
        side["frontier"] = frontier
        meetings = [node for node in frontier if node in other["parents"]]
        if not meetings:
            return None
        return min(meetings, key=lambda node: (other["parents"][node] or (None, None, 0))[2])

    @staticmethod
    def _chain(parents: Mapping[str, Any], node: str) -> tuple[list[str], list[str]]:
        """Nodes and edges from ``node`` back to the side's root."""
        nodes, edges = [node], []
        while parents[node] is not None:
            node, edge_id, _ = parents[node]
            nodes.append(node)
            edges.append(edge_id)
        return nodes, edges

    def _path(self, sides: list[dict[str, Any]], meeting: str) -> tuple[list[str], list[str]]:
        head_nodes, head_edges = self._chain(sides[0]["parents"], meeting)
        tail_nodes, tail_edges = self._chain(sides[1]["parents"], meeting)
        return head_nodes[::-1] + tail_nodes[1:], head_edges[::-1] + tail_edges
