"""Copying and comparing one app's data between two backends of one kind, through the ports
only (``storage_move``'s backfill and verification; ``core.storage.moves`` drives them).

A copier works on *units* (a document collection, a vector collection, a node label, an edge
type: what the app declared in ``core.storage.namespaces``). For each unit it can make it exist
in the target, count it, copy a page of it from a cursor, list its keys, copy or delete given
keys, checksum given keys, and answer sample queries in both backends.

Copies race with the dual writes of live traffic: a page read from the source may be deleted
(or changed) before it reaches the target. So after writing a page the copier reads those keys
from the source again and deletes from the target what is gone there and writes again what
changed (projections write the source first, so a change the re-read misses reaches the target
after the copy); ``reconcile`` compares the key sets at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np

from core.storage.namespaces import Namespace
from core.storage.ports import (
    DocumentStore,
    Edge,
    GraphStore,
    Node,
    NodeRef,
    Store,
    UnknownCollection,
    UnknownLabel,
    VectorItem,
    VectorStore,
)

PAGE = 500
#: scores closer than this are a tie (stores keep float32; some normalise cosine vectors)
SCORE_TOLERANCE = 1e-4


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class Copier(ABC):
    kind = ""

    def __init__(self, app: str, namespace: Namespace, source: Store, target: Store, *, page_size: int = PAGE) -> None:
        self.app = app
        self.namespace = namespace
        self.source = source
        self.target = target
        self.page_size = max(1, int(page_size))

    @abstractmethod
    def units(self) -> list[str]:
        """The app's units that exist in the source."""

    @abstractmethod
    def prepare(self, unit: str) -> None:
        """Make the unit exist in the target (collection, label, edge type)."""

    @abstractmethod
    def count(self, store: Store, unit: str) -> int: ...

    @abstractmethod
    def copy_page(self, unit: str, after: str | None) -> tuple[int, str | None]:
        """Copy one page after ``after``; returns (items copied, the next cursor or None)."""

    @abstractmethod
    def keys(self, store: Store, unit: str) -> set[str]: ...

    @abstractmethod
    def copy_keys(self, unit: str, keys: list[str]) -> int: ...

    @abstractmethod
    def delete_keys(self, unit: str, keys: list[str]) -> int: ...

    @abstractmethod
    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, Any]:
        """A comparable digest of each key found in ``store`` (``same`` compares two)."""

    def same(self, a: Any, b: Any) -> bool:
        return a == b

    def probes(self, unit: str, keys: list[str]) -> list[dict[str, Any]]:
        """Sample queries answered by both backends: ``{"query", "source", "target", "same"}``."""
        return []

    def keys_or_none(self, store: Store, unit: str) -> set[str]:
        """The unit's keys in ``store``; empty when the unit does not exist there."""
        try:
            return self.keys(store, unit)
        except (UnknownCollection, UnknownLabel):
            return set()

    def present(self, store: Store, unit: str, keys: list[str]) -> set[str]:
        try:
            return set(self.checksums(store, unit, keys))
        except (UnknownCollection, UnknownLabel):
            return set()

    def reconcile(self, unit: str, hold: Any) -> dict[str, int]:
        """Copy what the target misses, delete what the source does not have. ``hold()`` is a
        context in which no write of the app's kind is half-way between the backends (a vector
        slice writes the target before it commits to the source): an extra key is deleted only
        if the source still lacks it there."""
        source, target = self.keys(self.source, unit), self.keys_or_none(self.target, unit)
        missing, extra = sorted(source - target), sorted(target - source)
        copied = deleted = 0
        for start in range(0, len(missing), PAGE):
            copied += self.copy_keys(unit, missing[start : start + PAGE])
        for start in range(0, len(extra), PAGE):
            with hold():
                batch = extra[start : start + PAGE]
                still = self.present(self.source, unit, batch)
                deleted += self.delete_keys(unit, [key for key in batch if key not in still])
        return {"copied": copied, "deleted": deleted}


def _pages(fetch: Any) -> Iterator[list[Any]]:
    after = None
    while True:
        page = fetch(after)
        yield page.items
        after = page.next_cursor
        if after is None:
            return


# ---------------------------------------------------------------- documents


class DocumentCopier(Copier):
    kind = "documents"
    source: DocumentStore
    target: DocumentStore

    def units(self) -> list[str]:
        return list(self.namespace.document_collections)

    def prepare(self, unit: str) -> None:
        self.target.create_collection(unit)

    def count(self, store: Store, unit: str) -> int:
        return store.count(unit)  # type: ignore[attr-defined]

    def _write(self, unit: str, bodies: dict[str, dict[str, Any]]) -> int:
        """Write bodies read from the source, then re-read them there: write again what changed,
        delete what is gone."""
        if not bodies:
            return 0
        self.target.put_many(unit, list(bodies.items()))
        now = self.source.get_many(unit, list(bodies))
        gone = [key for key in bodies if key not in now]
        changed = [(key, body) for key, body in now.items() if body != bodies[key]]
        if gone:
            self.target.delete_many(unit, gone)
        if changed:
            self.target.put_many(unit, changed)
        return len(bodies) - len(gone)

    def copy_page(self, unit: str, after: str | None) -> tuple[int, str | None]:
        page = self.source.scan(unit, after=after, limit=self.page_size)
        return self._write(unit, {item.id: item.body for item in page.items}), page.next_cursor

    def keys(self, store: Store, unit: str) -> set[str]:
        return {doc.id for items in _pages(lambda after: store.scan(unit, after=after, limit=1000)) for doc in items}  # type: ignore[attr-defined]

    def copy_keys(self, unit: str, keys: list[str]) -> int:
        return self._write(unit, self.source.get_many(unit, keys))

    def delete_keys(self, unit: str, keys: list[str]) -> int:
        return self.target.delete_many(unit, keys)

    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, str]:
        return {key: digest(body) for key, body in store.get_many(unit, keys).items()}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- vectors


#: vectors agree when their norms and every component of their directions do within this
#: (stores keep float32, and some normalise cosine vectors and keep the norm apart)
VECTOR_TOLERANCE = 1e-5


def vector_checksum(item: VectorItem) -> tuple[str, float, np.ndarray]:
    """The metadata's digest, the vector's norm and its direction."""
    vector = np.asarray(item.vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return digest(item.metadata), norm, vector / norm if norm else vector


class VectorCopier(Copier):
    kind = "vectors"
    source: VectorStore
    target: VectorStore

    def units(self) -> list[str]:
        return self.namespace.vector_collections(self.source)

    def prepare(self, unit: str) -> None:
        spec = self.source.get_collection(unit)
        # the index travels with the collection: the source's kind and width (PostgreSQL records
        # them), else the target's default kind and the app's width for the model (e.g. from Qdrant)
        width = spec.index_dimensions or self.namespace.index_dimensions(spec.model)
        self.target.create_collection(
            unit,
            dimension=spec.dimension,
            model=spec.model,
            metric=spec.metric,
            indexed_fields=dict(spec.indexed_fields) or None,
            index=spec.index_type,
            index_dimensions=min(width, spec.dimension) if width else None,
        )

    def count(self, store: Store, unit: str) -> int:
        return store.count(unit)  # type: ignore[attr-defined]

    def _write(self, unit: str, items: list[VectorItem]) -> int:
        if not items:
            return 0
        model = self.source.get_collection(unit).model
        self.target.upsert(unit, items, model=model)
        still = self.source.get_many(unit, [item.key for item in items])
        gone = [item.key for item in items if item.key not in still]
        if gone:  # a chunk's vector never changes; only its removal can race with the copy
            self.target.delete(unit, gone)
        return len(items) - len(gone)

    def copy_page(self, unit: str, after: str | None) -> tuple[int, str | None]:
        page = self.source.scan(unit, after=after, limit=min(self.page_size, 256))
        return self._write(unit, list(page.items)), page.next_cursor

    def keys(self, store: Store, unit: str) -> set[str]:
        fetch = lambda after: store.scan(unit, after=after, limit=1000, with_vectors=False)  # type: ignore[attr-defined]  # noqa: E731
        return {item.key for items in _pages(fetch) for item in items}

    def copy_keys(self, unit: str, keys: list[str]) -> int:
        return self._write(unit, list(self.source.get_many(unit, keys).values()))

    def delete_keys(self, unit: str, keys: list[str]) -> int:
        return self.target.delete(unit, keys)

    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, Any]:
        return {key: vector_checksum(item) for key, item in store.get_many(unit, keys).items()}  # type: ignore[attr-defined]

    def same(self, a: Any, b: Any) -> bool:
        return (
            a[0] == b[0]
            and abs(a[1] - b[1]) <= VECTOR_TOLERANCE * max(1.0, abs(a[1]))
            and a[2].shape == b[2].shape
            and float(np.max(np.abs(a[2] - b[2]), initial=0.0)) <= VECTOR_TOLERANCE
        )

    def probes(self, unit: str, keys: list[str]) -> list[dict[str, Any]]:
        """Search both with each sampled vector. Equally distant hits may come in any order and a
        tie at the 10th place may be broken either way, so a target hit counts as matching when
        the source has it or scores it at least as well as its 10th hit (``overlap``); the
        answer is the same when every hit matches."""
        spec = self.source.get_collection(unit)
        results = []
        for key, item in self.source.get_many(unit, keys).items():
            hits = {
                name: store.search(unit, item.vector, model=spec.model, k=10)
                for name, store in (("source", self.source), ("target", self.target))
            }
            source_keys = {hit.key for hit in hits["source"]}
            floor = hits["source"][-1].score - SCORE_TOLERANCE if hits["source"] else math.inf
            matched = sum(1 for hit in hits["target"] if hit.key in source_keys or hit.score >= floor)
            overlap = matched / max(1, len(hits["source"]), len(hits["target"]))
            results.append(
                {
                    "key": key,
                    "query": f"search {unit} like {key}",
                    "source": [hit.key for hit in hits["source"]],
                    "target": [hit.key for hit in hits["target"]],
                    "overlap": overlap,
                    "same": overlap == 1.0,
                }
            )
        return results


# ---------------------------------------------------------------- graph


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
            for items in _pages(lambda after: self._scan(store, unit, after, 1000))  # type: ignore[arg-type]
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


COPIERS: dict[str, type[Copier]] = {"documents": DocumentCopier, "vectors": VectorCopier, "graph": GraphCopier}
