"""The graph copier: units ``node:<label>`` (copied first) and ``edge:<type>``; a node's key is its
own, an edge's the JSON of its type and ends (``edge_key``); sample neighbourhoods of copied
nodes must be the same in both backends."""

from __future__ import annotations

import json
from typing import Any

from core.storage.copiers.base import Copier, digest, pages
from core.storage.ports import Edge, GraphStore, Node, NodeRef, Store


def edge_key(edge: Edge) -> str:
    return json.dumps([edge.type, edge.source.label, edge.source.key, edge.target.label, edge.target.key])


class GraphCopier(Copier):
    """Units: ``node:<label>`` (copied first) and ``edge:<type>``."""

    kind = "graph"
    source: GraphStore
    target: GraphStore

    def units(self) -> list[str]:
        labels, types = self.namespace.labels_in(self.source)
        return [f"node:{label}" for label in labels] + [f"edge:{edge_type}" for edge_type in types]

    @staticmethod
    def _split(unit: str) -> tuple[str, str]:
        what, name = unit.split(":", 1)
        return what, name

    def prepare(self, unit: str) -> None:
        what, name = self._split(unit)
        if what == "node":
            self.target.define_node_label(name)
        else:
            self.target.define_edge_type(name)

    def count(self, store: Store, unit: str) -> int:
        what, name = self._split(unit)
        return store.count_nodes(name) if what == "node" else store.count_edges(name)  # type: ignore[attr-defined]

    def _scan(self, store: GraphStore, unit: str, after: str | None, limit: int) -> Any:
        what, name = self._split(unit)
        if what == "node":
            return store.scan_nodes(name, after=after, limit=limit)
        return store.scan_edges(name, after=after, limit=limit)

    def _load(self, unit: str, items: list[Any]) -> int:
        if not items:
            return 0
        if self._split(unit)[0] == "node":
            self.target.bulk_load(nodes=items)
        else:
            self.target.bulk_load(edges=items)
        return len(items)

    def copy_page(self, unit: str, after: str | None) -> tuple[int, str | None]:
        page = self._scan(self.source, unit, after, self.page_size)
        return self._load(unit, list(page.items)), page.next_cursor

    def _key(self, item: Any) -> str:
        return item.key if isinstance(item, Node) else edge_key(item)

    def keys(self, store: Store, unit: str) -> set[str]:
        return {
            self._key(item)
            for items in pages(lambda after: self._scan(store, unit, after, 1000))  # type: ignore[arg-type]
            for item in items
        }

    def _get(self, store: GraphStore, unit: str, key: str) -> Any:
        what, name = self._split(unit)
        if what == "node":
            return store.get_node(NodeRef(name, key))
        edge_type, source_label, source_key, target_label, target_key = json.loads(key)
        source = NodeRef(source_label, source_key)
        for edge in store.subgraph(source, depth=1, direction="out", edge_types=[edge_type], limit=10_000).edges:
            if edge.source == source and edge.target == NodeRef(target_label, target_key):
                return edge
        return None

    def copy_keys(self, unit: str, keys: list[str]) -> int:
        found = [item for item in (self._get(self.source, unit, key) for key in keys) if item is not None]
        return self._load(unit, found)

    def delete_keys(self, unit: str, keys: list[str]) -> int:
        what, name = self._split(unit)
        deleted = 0
        for key in keys:
            if what == "node":
                deleted += bool(self.target.delete_node(NodeRef(name, key)))
            else:
                edge_type, source_label, source_key, target_label, target_key = json.loads(key)
                deleted += bool(
                    self.target.delete_edge(
                        edge_type, NodeRef(source_label, source_key), NodeRef(target_label, target_key)
                    )
                )
        return deleted

    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, str]:
        found = {}
        for key in keys:
            item = self._get(store, unit, key)  # type: ignore[arg-type]
            if item is not None:
                found[key] = digest(item.properties)
        return found

    def probes(self, unit: str, keys: list[str]) -> list[dict[str, Any]]:
        """Neighbours and 2-hop neighbourhoods (both directions) of sampled nodes in both."""
        what, label = self._split(unit)
        if what != "node":
            return []
        results = []
        for key in keys:
            ref = NodeRef(label, key)
            for name, call in (
                ("neighbours", lambda s, ref=ref: [(n.label, n.key) for n in s.neighbours(ref, direction="both")]),
                (
                    "2-hop",
                    lambda s, ref=ref: [
                        (h.node.label, h.node.key, h.depth) for h in s.k_hop(ref, k=2, direction="both")
                    ],
                ),
            ):
                try:
                    source, target = sorted(call(self.source)), sorted(call(self.target))
                except LookupError:  # deleted meanwhile in one of them
                    continue
                results.append(
                    {"query": f"{name} of {label}:{key}", "source": source, "target": target, "same": source == target}
                )
        return results
