"""VectorStore on Qdrant through the official ``qdrant-client``.

    STRATA_STORAGE = {"content": {"vectors": {
        "BACKEND": "core.storage.qdrant.QdrantVectorStore", "url": "http://qdrant:6333", "api_key": "..."}}}

* ``url=`` (and ``api_key=``, ``timeout=``) talks to a Qdrant server; ``path=`` uses the
  client's local mode (an in-process engine persisted under that directory: what the tests
  and CI use; one process at a time may open a path). With neither, local mode under
  ``<STRATA_DATA_DIR>/qdrant``.
* A port collection ``name`` is the Qdrant collection ``<prefix>.n.<name>`` (or
  ``<prefix>.h.<sha1>`` for names with ``:``, which Qdrant refuses). Its model, metric and
  indexed fields are kept in the collection's metadata, so the port's model checks work.
* A point's id is ``uuid5(key)``; its payload is ``{"key": key, "metadata": {...}}``, plus the
  vector's ``norm`` in cosine collections: Qdrant normalises cosine vectors when it stores them,
  and ``get``/``scan`` multiply the norm back (float32 precision, not bit for bit:
  ``features.exact_vector_round_trip`` is False).
* ``create_collection(index=...)`` is accepted and ignored (``features.index_kinds`` is empty):
  Qdrant builds its own HNSW index; ``bulk_load`` is the port's live load (batched upserts).
* ``indexed_fields`` become payload indexes (``metadata.<path>``) on a server; local mode has
  none (``features.builds_payload_indexes``). Filters compile to Qdrant's models
  (``core.storage.qdrant.filters``).
* Writes use ``wait=True`` (applied before the call returns). A store is never part of the
  caller's database transaction (``joins_db_transaction`` is False).
* Clients are created lazily and again in a forked process; local-mode clients are shared per
  path in a process (Qdrant locks the directory) and serialised with a lock (``client.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core import embedded
from core.storage import filters, hnsw
from core.storage.ports import (
    InvalidInput,
    Page,
    StoreUnavailable,
    UnknownCollection,
    VectorCollection,
    VectorFeatures,
    VectorHit,
    VectorItem,
    VectorStore,
)
from core.storage.ports.errors import StorageError
from core.storage.qdrant.client import local_client, point_id
from core.storage.qdrant.filters import compile_filter, payload_key

R = TypeVar("R")
MAX_K = 10_000
UPSERT_BATCH = 256
_DISTANCE = {"cosine": models.Distance.COSINE, "l2": models.Distance.EUCLID, "inner_product": models.Distance.DOT}
_METRIC = {value: key for key, value in _DISTANCE.items()}
_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}
_UNAVAILABLE_STATUS = {502, 503, 504}


class QdrantVectorStore(VectorStore):
    """ports.VectorStore on a Qdrant server (``url``) or in local mode (``path``)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: str | os.PathLike[str] | None = None,
        prefix: str = "strata",
        timeout: float = 10.0,
    ) -> None:
        if url and path:
            raise InvalidInput("QdrantVectorStore takes url= (a server) or path= (local mode), not both")
        self.url = url or None
        self.api_key = api_key or None
        self.path = None if self.url else str(Path(path or embedded.data_dir() / "qdrant").resolve())
        self.prefix = prefix
        self.timeout = timeout
        self._client: QdrantClient | None = None
        self._pid = 0
        self.features = VectorFeatures(
            joins_db_transaction=False,
            vendor="qdrant",
            dimensions=None,
            max_dimension=65536,
            max_k=MAX_K,
            orders_ties_by_key=False,
            exact_vector_round_trip=False,
            builds_payload_indexes=self.url is not None,
        )

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"path={self.path!r}"
        return f"QdrantVectorStore({where}, prefix={self.prefix!r})"

    # ------------------------------------------------------------ client

    @contextmanager
    def _session(self) -> Iterator[QdrantClient]:
        """The client for this process (local mode: the process's shared one, under its lock)."""
        if self.path is not None:
            with local_client(self.path) as client:
                yield client
            return
        if self._client is None or self._pid != os.getpid():  # a forked process makes its own
            self._client = QdrantClient(
                url=self.url, api_key=self.api_key, timeout=int(self.timeout), check_compatibility=False
            )
            self._pid = os.getpid()
        yield self._client

    def _call(self, operation: Callable[[QdrantClient], R]) -> R:
        with self._session() as client:
            return operation(client)

    def _do_close(self) -> None:
        """Close a server client (reconnects on the next call); local clients stay open."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    def _map_error(self, error: Exception) -> StorageError | None:
        if isinstance(error, ResponseHandlingException | httpx.TransportError | ConnectionError | TimeoutError):
            return StoreUnavailable(f"Qdrant at {self.url or self.path} is unavailable: {error}")
        if isinstance(error, UnexpectedResponse) and error.status_code in _UNAVAILABLE_STATUS:
            return StoreUnavailable(f"Qdrant at {self.url} is unavailable: HTTP {error.status_code}")
        if isinstance(error, RuntimeError) and "already accessed by another instance" in str(error):
            return StoreUnavailable(f"Qdrant local storage {self.path} is open in another process: {error}")
        return None

    # ------------------------------------------------------------ names and specs

    def _name(self, name: str) -> str:
        if ":" in name:  # Qdrant refuses ':' in collection names
            return f"{self.prefix}.h.{hashlib.sha1(name.encode()).hexdigest()}"
        return f"{self.prefix}.n.{name}"

    def _spec(self, client: QdrantClient, qdrant_name: str) -> VectorCollection | None:
        if not client.collection_exists(qdrant_name):
            return None
        config = client.get_collection(qdrant_name).config
        meta = (config.metadata or {}).get("strata") or {}
        params = config.params.vectors
        if not meta or not isinstance(params, models.VectorParams):
            return None  # not a collection of this store
        return VectorCollection(
            name=meta["name"],
            dimension=params.size,
            model=meta["model"],
            metric=_METRIC[params.distance],
            indexed_fields=tuple(sorted((path, kind) for path, kind in meta.get("indexed_fields", []))),
        )

    def _existing(self, client: QdrantClient, name: str) -> str:
        qdrant_name = self._name(name)
        if not client.collection_exists(qdrant_name):
            raise UnknownCollection(f"vector collection {name!r} does not exist")
        return qdrant_name

    @staticmethod
    def _meta(spec: VectorCollection) -> dict[str, Any]:
        return {
            "strata": {
                "name": spec.name,
                "model": spec.model,
                "metric": spec.metric,
                "indexed_fields": [list(pair) for pair in spec.indexed_fields],
            }
        }

    def _create_indexes(self, client: QdrantClient, qdrant_name: str, fields: tuple[tuple[str, str], ...]) -> None:
        if not self.features.builds_payload_indexes:
            return  # local mode has no payload indexes
        for path, kind in fields:
            client.create_payload_index(
                qdrant_name, payload_key(tuple(path.split("."))), field_schema=_SCHEMA[kind], wait=True
            )

    # ------------------------------------------------------------ collections

    def _do_create_collection(self, spec: VectorCollection, index: str | None = None) -> VectorCollection:
        def create(client: QdrantClient) -> VectorCollection:
            qdrant_name = self._name(spec.name)
            existing = self._spec(client, qdrant_name)
            if existing is not None:
                return existing
            try:
                client.create_collection(
                    qdrant_name,
                    vectors_config=models.VectorParams(size=spec.dimension, distance=_DISTANCE[spec.metric]),
                    metadata=self._meta(spec),
                )
            except (ValueError, UnexpectedResponse) as error:  # created meanwhile by another writer
                existing = self._spec(client, qdrant_name)
                if existing is None:
                    raise StoreUnavailable(f"could not create Qdrant collection {qdrant_name}: {error}") from error
                return existing
            self._create_indexes(client, qdrant_name, spec.indexed_fields)
            return spec

        return self._call(create)

    def _do_add_indexed_fields(self, spec: VectorCollection, fields: tuple[tuple[str, str], ...]) -> VectorCollection:
        merged = VectorCollection(
            name=spec.name,
            dimension=spec.dimension,
            model=spec.model,
            metric=spec.metric,
            indexed_fields=tuple(sorted({*spec.indexed_fields, *fields})),
        )

        def add(client: QdrantClient) -> VectorCollection:
            qdrant_name = self._existing(client, spec.name)
            self._create_indexes(client, qdrant_name, fields)
            client.update_collection(qdrant_name, metadata=self._meta(merged))
            return merged

        return self._call(add)

    def _do_get_collection(self, name: str) -> VectorCollection | None:
        return self._call(lambda client: self._spec(client, self._name(name)))

    def _do_list_collections(self) -> list[VectorCollection]:
        def listed(client: QdrantClient) -> list[VectorCollection]:
            names = [c.name for c in client.get_collections().collections if c.name.startswith(f"{self.prefix}.")]
            specs = (self._spec(client, name) for name in names)
            return [spec for spec in specs if spec is not None]

        return self._call(listed)

    def _do_drop_collection(self, name: str) -> None:
        self._call(lambda client: client.delete_collection(self._name(name)))

    # ------------------------------------------------------------ writes

    def _do_upsert(self, spec: VectorCollection, keys: list[str], matrix: np.ndarray, metadata: list[str]) -> None:
        norms = np.linalg.norm(matrix.astype(np.float64), axis=1) if spec.metric == "cosine" else None

        def points(start: int) -> list[models.PointStruct]:
            batch = []
            for row in range(start, min(start + UPSERT_BATCH, len(keys))):
                payload: dict[str, Any] = {"key": keys[row], "metadata": json.loads(metadata[row])}
                if norms is not None:
                    payload["norm"] = float(norms[row])
                batch.append(models.PointStruct(id=point_id(keys[row]), vector=matrix[row].tolist(), payload=payload))
            return batch

        def upsert(client: QdrantClient) -> None:
            qdrant_name = self._existing(client, spec.name)
            for start in range(0, len(keys), UPSERT_BATCH):
                client.upsert(qdrant_name, points=points(start), wait=True)

        self._call(upsert)

    def _do_delete(self, collection: str, keys: list[str]) -> int:
        def delete(client: QdrantClient) -> int:
            qdrant_name = self._existing(client, collection)
            if not keys:
                return 0
            found = client.retrieve(qdrant_name, [point_id(k) for k in keys], with_payload=False, with_vectors=False)
            if found:
                client.delete(qdrant_name, models.PointIdsList(points=[p.id for p in found]), wait=True)
            return len(found)

        return self._call(delete)

    def _do_delete_where(self, collection: str, condition: filters.Filter) -> int:
        query = compile_filter(condition)

        def delete(client: QdrantClient) -> int:
            qdrant_name = self._existing(client, collection)
            matched = client.count(qdrant_name, count_filter=query, exact=True).count
            if matched:
                client.delete(qdrant_name, models.FilterSelector(filter=query), wait=True)
            return matched

        return self._call(delete)

    # ------------------------------------------------------------ reads

    def _do_get_many(self, collection: str, keys: list[str]) -> dict[str, VectorItem]:
        def get(client: QdrantClient) -> dict[str, VectorItem]:
            qdrant_name = self._existing(client, collection)
            if not keys:
                return {}
            found = client.retrieve(qdrant_name, [point_id(k) for k in keys], with_payload=True, with_vectors=True)
            items = (_item(record) for record in found)
            return {item.key: item for item in items}

        return self._call(get)

    def _do_count(self, collection: str, condition: filters.Filter | None) -> int:
        query = None if condition is None else compile_filter(condition)
        return self._call(
            lambda client: client.count(self._existing(client, collection), count_filter=query, exact=True).count
        )

    def _do_scan(self, collection: str, after: str | None, limit: int, with_vectors: bool) -> Page[VectorItem]:
        if after is not None:
            try:
                after = str(uuid.UUID(after))
            except ValueError as error:
                raise InvalidInput(f"after must be the next_cursor of a previous page, got {after!r}") from error

        def scan(client: QdrantClient) -> Page[VectorItem]:
            records, next_offset = client.scroll(
                self._existing(client, collection),
                limit=limit,
                offset=after,
                with_payload=True,
                with_vectors=with_vectors,
            )
            return Page(
                items=[_item(record) for record in records],
                next_cursor=None if next_offset is None else str(next_offset),
            )

        return self._call(scan)

    def _do_search(
        self, spec: VectorCollection, vector: np.ndarray, k: int, condition: filters.Filter | None
    ) -> list[VectorHit]:
        query = None if condition is None else compile_filter(condition)
        # local mode searches exactly (brute force); a server walks its HNSW graph with this ef
        params = None if self.path else models.SearchParams(hnsw_ef=hnsw.ef_search_for(None, k))

        def search(client: QdrantClient) -> list[models.ScoredPoint]:
            return client.query_points(
                self._existing(client, spec.name),
                query=vector.tolist(),
                limit=k,
                query_filter=query,
                with_payload=True,
                search_params=params,
            ).points

        hits = [_hit(point, spec.metric) for point in self._call(search)]
        return sorted(hits, key=lambda hit: (hit.distance, hit.key))


def _item(record: models.Record) -> VectorItem:
    payload = record.payload or {}
    vector = record.vector
    if vector is None:
        values: list[float] = []
    else:
        array = np.asarray(vector, dtype=np.float64)
        if "norm" in payload:
            array = array * float(payload["norm"])
        values = array.astype(np.float32).tolist()
    return VectorItem(key=payload["key"], vector=values, metadata=payload.get("metadata") or {})


def _hit(point: models.ScoredPoint, metric: str) -> VectorHit:
    payload = point.payload or {}
    score = float(point.score)
    if metric == "cosine":
        distance = 1.0 - score
    elif metric == "l2":  # Qdrant's score is the Euclidean distance
        distance, score = score, -score
    else:
        distance = -score
    return VectorHit(key=payload["key"], score=score, distance=distance, metadata=payload.get("metadata") or {})
