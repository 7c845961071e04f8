"""Graph algorithms every adapter can share (they call back into the adapter for its steps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Step = tuple[Any, Any, Any]  # (source node id, target node id, edge id) in the adapter's own ids


class WorkExceeded(Exception):
    """The search would follow more edges than its budget allows."""


class BidirectionalSearch:
    """Shortest path between two node ids: breadth-first from both ends, one level at a time from
    the side whose frontier has fewer edges (``degrees(forward_frontier, backward_frontier)``
    counts them; without it, fewer nodes). ``expand(frontier, forward, limit)`` returns at most
    ``limit`` (src, dst, edge id) steps; more than ``budget`` steps in all raise WorkExceeded.
    A side's ``parents`` maps each visited node to (previous node, edge id, depth)."""

    def __init__(
        self,
        expand: Callable[[Sequence[Any], bool, int], Sequence[Step]],
        degrees: Callable[[Sequence[Any], Sequence[Any]], tuple[int, int]] | None = None,
        budget: int | None = None,
    ) -> None:
        self.expand = expand
        self.degrees = degrees
        self.budget = budget
        self.work = 0

    def run(self, start: Any, end: Any, max_depth: int) -> tuple[list[Any], list[Any]] | None:
        if start == end:
            return [start], []
        sides = [
            {"parents": {start: None}, "frontier": [start], "depth": 0, "forward": True},
            {"parents": {end: None}, "frontier": [end], "depth": 0, "forward": False},
        ]
        while all(side["frontier"] for side in sides) and sides[0]["depth"] + sides[1]["depth"] < max_depth:
            side, other = self._choose(sides)
            meeting = self._step(side, other)
            if meeting is not None:
                return self._path(sides, meeting)
        return None

    def _choose(self, sides: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.degrees is None:
            return sorted(sides, key=lambda s: len(s["frontier"]))
        forward, backward = self.degrees(sides[0]["frontier"], sides[1]["frontier"])
        sizes = (forward, len(sides[0]["frontier"])), (backward, len(sides[1]["frontier"]))
        return sides if sizes[0] <= sizes[1] else sides[::-1]

    def _step(self, side: dict[str, Any], other: dict[str, Any]) -> Any:
        """Expand one level of ``side``; the new node closest to the other side's root, if they met."""
        side["depth"] += 1
        parents, frontier = side["parents"], []
        room = None if self.budget is None else self.budget - self.work + 1
        steps = self.expand(side["frontier"], side["forward"], room)
        self.work += len(steps)
        if self.budget is not None and self.work > self.budget:
            raise WorkExceeded(f"the search followed more than {self.budget} edges")
        for src, dst, edge_id in steps:
            if dst not in parents:
                parents[dst] = (src, edge_id, side["depth"])
                frontier.append(dst)
        side["frontier"] = frontier
        meetings = [node for node in frontier if node in other["parents"]]
        if not meetings:
            return None
        return min(meetings, key=lambda node: (other["parents"][node] or (None, None, 0))[2])

    @staticmethod
    def _chain(parents: Mapping[Any, Any], node: Any) -> tuple[list[Any], list[Any]]:
        """Nodes and edges from ``node`` back to the side's root."""
        nodes, edges = [node], []
        while parents[node] is not None:
            node, edge_id, _ = parents[node]
            nodes.append(node)
            edges.append(edge_id)
        return nodes, edges

    def _path(self, sides: list[dict[str, Any]], meeting: Any) -> tuple[list[Any], list[Any]]:
        head_nodes, head_edges = self._chain(sides[0]["parents"], meeting)
        tail_nodes, tail_edges = self._chain(sides[1]["parents"], meeting)
        return head_nodes[::-1] + tail_nodes[1:], head_edges[::-1] + tail_edges
