"""The vectors copier: a unit is a vector collection (created in the target with the source's model,
metric and index), a key a vector's key; two copies agree when their metadata, norms and
directions do, and sample searches in both backends must find the same hits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.storage.copiers.base import Copier, digest, pages
from core.storage.ports import Store, VectorItem, VectorStore

#: scores closer than this are a tie (stores keep float32; some normalise cosine vectors)
SCORE_TOLERANCE = 1e-4

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
        return {item.key for items in pages(fetch) for item in items}

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
