"""The VectorStore port: embeddings with JSON metadata in collections of fixed dimension,
embedding model and metric."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from core.storage import filters, validation, vector_input
from core.storage.ports.base import Store
from core.storage.ports.documents import MAX_SCAN_PAGE, check_cursor
from core.storage.ports.errors import CollectionConflict, InvalidInput, ModelMismatch, UnknownCollection
from core.storage.ports.features import VectorFeatures
from core.storage.ports.types import FieldType, Metric, Page, VectorCollection, VectorHit, VectorItem
from core.storage.ports.vector_load import VectorLoad


def plain(spec: VectorCollection) -> VectorCollection:
    """The public VectorCollection (adapters may hand their hooks a subclass carrying an id)."""
    if type(spec) is VectorCollection:
        return spec
    return VectorCollection(**{f.name: getattr(spec, f.name) for f in fields(VectorCollection)})


def _same_shape(a: VectorCollection, b: VectorCollection) -> bool:
    return (a.name, a.dimension, a.model, a.metric) == (b.name, b.dimension, b.model, b.metric)


class VectorStore(Store):
    """Embeddings with JSON metadata in collections of fixed dimension and embedding model.

    Hooks receive validated arguments: a collection spec (from ``_do_get_collection``), keys,
    a float32 matrix, metadata as JSON text, filters as one neutral filter (or None)."""

    _is_port = True
    features: VectorFeatures = VectorFeatures()

    # ------------------------------------------------------------ collections

    def create_collection(
        self,
        name: str,
        *,
        dimension: int,
        model: str,
        metric: Metric = "cosine",
        indexed_fields: Mapping[str, FieldType] | None = None,
        index: str | None = None,
        index_dimensions: int | None = None,
    ) -> VectorCollection:
        """Create (or return the identical existing) collection; another dimension, model or
        metric raises CollectionConflict. ``indexed_fields`` (metadata path -> "keyword",
        "integer", "float" or "bool") are added to the collection's indexed fields.

        ``index`` (one of ``vector_input.INDEX_KINDS``; None: the store's default) asks for an
        index kind: "halfvec" (half precision), "vector" (full precision) or "binary" (bit
        quantized, candidates re-ranked by the exact distance: smaller and faster to build).
        Stores honour the kinds in ``features.index_kinds`` and build their own index for the
        others; an existing collection keeps its index.

        ``index_dimensions`` (1 to ``dimension``; None: all) says the vectors' components beyond
        that many are always zero, e.g. a 384-d model's vectors zero-padded to 1536: stores with
        ``features.indexes_leading_dimensions`` index only the leading ones (a quarter of the
        distance arithmetic, the same distances) and refuse a vector with a non-zero component
        beyond them; others ignore it."""
        spec = vector_input.collection_spec(
            name, dimension=dimension, model=model, metric=metric, fields=indexed_fields, features=self.features
        )
        index = vector_input.index_kind(index)
        extra = {}
        if index_dimensions is not None:
            if isinstance(index_dimensions, bool) or not isinstance(index_dimensions, int):
                raise InvalidInput(f"index_dimensions must be an integer, not {index_dimensions!r}")
            if not 1 <= index_dimensions <= spec.dimension:
                raise InvalidInput(f"index_dimensions must be from 1 to the dimension {spec.dimension}")
            if self.features.indexes_leading_dimensions:
                extra["index_dimensions"] = index_dimensions
        stored = self._run(
            self._do_create_collection, spec, index if index in self.features.index_kinds else None, **extra
        )
        if not _same_shape(stored, spec):
            raise CollectionConflict(f"vector collection {spec.name!r} exists as {plain(stored)}, not {spec}")
        missing = tuple(pair for pair in spec.indexed_fields if pair not in stored.indexed_fields)
        if missing:
            stored = self._run(self._do_add_indexed_fields, stored, missing)
        return plain(stored)

    def get_collection(self, name: str) -> VectorCollection:
        """Raises UnknownCollection."""
        return plain(self._spec_of(name))

    def list_collections(self) -> list[VectorCollection]:
        return sorted((plain(c) for c in self._run(self._do_list_collections)), key=lambda c: c.name)

    def drop_collection(self, name: str) -> None:
        """Drop the collection and its vectors; a no-op when it does not exist."""
        self._run(self._do_drop_collection, validation.collection_name(name))

    # ------------------------------------------------------------ writes

    def upsert(self, collection: str, items: Iterable[VectorItem], *, model: str) -> int:
        """Insert or replace by key (a key repeated in ``items`` keeps its last item). ``model``
        must be the collection's model. Everything is validated before anything is written."""
        spec = self._checked(collection, model)
        keys, matrix, metadata = vector_input.prepare_items(items, spec)
        if not keys:
            return 0
        self._run(self._do_upsert, spec, keys, matrix, metadata)
        return len(keys)

    def bulk_load(self, collection: str, *, model: str, rows: int) -> VectorLoad:
        """Open a load of about ``rows`` vectors (see ``vector_load``): staged when the store can
        and the load is large against the collection, else live batches. ``model`` must be the
        collection's model; each ``add`` validates its items like ``upsert``."""
        spec = self._checked(collection, model)
        rows = validation.bounded_int(rows, what="rows", low=0, high=10**12)
        return self._run(self._do_bulk_load, spec, rows)

    def delete(self, collection: str, keys: Iterable[str]) -> int:
        collection = validation.collection_name(collection)
        return self._run(self._do_delete, collection, validation.record_keys(keys, what="key"))

    def delete_where(
        self,
        collection: str,
        filter: Mapping[str, Any] | None = None,  # noqa: A002
        *,
        where: filters.Filter | None = None,
    ) -> int:
        """Delete every vector matching ``where`` / the containment sugar ``filter``. A filter
        that matches everything is refused: use drop_collection to empty a collection."""
        collection = validation.collection_name(collection)
        condition = vector_input.metadata_filter(where, filter)
        if condition is None or filters.is_match_all(condition):
            raise InvalidInput("delete_where needs a non-empty filter; use drop_collection to remove everything")
        return self._run(self._do_delete_where, collection, condition)

    # ------------------------------------------------------------ reads

    def get(self, collection: str, key: str) -> VectorItem | None:
        key = validation.record_key(key, what="key")
        return self.get_many(collection, [key]).get(key)

    def get_many(self, collection: str, keys: Iterable[str]) -> dict[str, VectorItem]:
        """The items that exist, by key (vectors as lists of floats)."""
        collection = validation.collection_name(collection)
        return self._run(self._do_get_many, collection, validation.record_keys(keys, what="key"))

    def count(
        self,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,  # noqa: A002
        where: filters.Filter | None = None,
    ) -> int:
        collection = validation.collection_name(collection)
        return self._run(self._do_count, collection, vector_input.metadata_filter(where, filter))

    def scan(
        self, collection: str, *, after: str | None = None, limit: int = 1000, with_vectors: bool = True
    ) -> Page[VectorItem]:
        """Every item, a page at a time in a stable order (for backfills and verification):
        start with ``after=None`` and pass each page's ``next_cursor`` until it is None.
        ``with_vectors=False`` leaves ``vector`` empty (keys and metadata only)."""
        collection = validation.collection_name(collection)
        limit = validation.bounded_int(limit, what="limit", low=1, high=MAX_SCAN_PAGE)
        return self._run(self._do_scan, collection, check_cursor(after), limit, bool(with_vectors))

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        model: str,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,  # noqa: A002
        where: filters.Filter | None = None,
    ) -> list[VectorHit]:
        """The k nearest vectors matching the filters, closest first (``features.orders_ties_by_key``
        says whether equally distant hits come ordered by key)."""
        spec = self._checked(collection, model)
        query = vector_input.as_vector(vector, spec, what="query vector")
        k = validation.bounded_int(k, what="k", low=1, high=self.features.max_k)
        condition = vector_input.metadata_filter(where, filter)
        return self._run(self._do_search, spec, query, k, condition)

    # ------------------------------------------------------------ helpers

    def _spec_of(self, name: str) -> VectorCollection:
        name = validation.collection_name(name)
        spec = self._run(self._do_get_collection, name)
        if spec is None:
            raise UnknownCollection(f"vector collection {name!r} does not exist")
        return spec

    def _checked(self, name: str, model: str) -> VectorCollection:
        """The collection, checked against the caller's embedding model."""
        name = validation.collection_name(name)
        model = validation.text(model, what="model", max_length=vector_input.MAX_MODEL_LENGTH)
        spec = self._spec_of(name)
        if spec.model != model:
            raise ModelMismatch(
                f"vector collection {name!r} holds embeddings of model {spec.model!r}, got model {model!r}"
            )
        return spec

    # ------------------------------------------------------------ hooks

    @abstractmethod
    def _do_create_collection(self, spec: VectorCollection, index: str | None = None) -> VectorCollection:
        """Create the collection unless one of that name exists (with the ``index`` kind, one of
        ``features.index_kinds``, or the store's default for None); return the stored one."""

    def _do_bulk_load(self, spec: VectorCollection, rows: int) -> VectorLoad:
        """The live load (stores that can stage large loads override this)."""
        return VectorLoad(self, spec.name, spec.model)

    @abstractmethod
    def _do_add_indexed_fields(
        self, spec: VectorCollection, fields: tuple[tuple[str, str], ...]
    ) -> VectorCollection: ...

    @abstractmethod
    def _do_get_collection(self, name: str) -> VectorCollection | None: ...

    @abstractmethod
    def _do_list_collections(self) -> list[VectorCollection]: ...

    @abstractmethod
    def _do_drop_collection(self, name: str) -> None: ...

    @abstractmethod
    def _do_upsert(self, spec: VectorCollection, keys: list[str], matrix: np.ndarray, metadata: list[str]) -> None: ...

    @abstractmethod
    def _do_delete(self, collection: str, keys: list[str]) -> int:
        """UnknownCollection when the collection does not exist."""

    @abstractmethod
    def _do_delete_where(self, collection: str, condition: filters.Filter) -> int: ...

    @abstractmethod
    def _do_get_many(self, collection: str, keys: list[str]) -> dict[str, VectorItem]: ...

    @abstractmethod
    def _do_count(self, collection: str, condition: filters.Filter | None) -> int: ...

    @abstractmethod
    def _do_scan(self, collection: str, after: str | None, limit: int, with_vectors: bool) -> Page[VectorItem]: ...

    @abstractmethod
    def _do_search(
        self, spec: VectorCollection, vector: np.ndarray, k: int, condition: filters.Filter | None
    ) -> list[VectorHit]: ...
