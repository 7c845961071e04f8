"""The rows of ``strata_vector_collection`` as specs: ``StoredCollection`` is a ``VectorCollection``
with its database id, index kind and width and its size estimate, read by name (``fetch``) or by
``SELECT COLUMNS`` and ``from_row``; ``check_tail`` refuses vectors a collection's index could not
rank. Shared by the pgvector store (``vectors``) and its staged loads (``vector_load``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.storage.ports import UnknownCollection, VectorCollection
from core.storage.ports.errors import InvalidInput
from core.storage.postgres import vector_index
from core.storage.postgres.vector_index import STORED_DIMENSION

# The last column: the collection's size as its HNSW index's statistics have it (set by the build,
# by ANALYZE and by (auto)vacuum; -1 or NULL when unknown), for ef_search (core.storage.hnsw).
COLUMNS = (
    "id, name, dimension, model, metric, indexed_fields, index_type, index_dimensions, "  # noqa: S608 (constants)
    f"(SELECT reltuples FROM pg_class WHERE oid = to_regclass({vector_index.INDEX_NAME_SQL}))"
)


@dataclass(frozen=True)
class StoredCollection(VectorCollection):
    """A collection spec carrying its database id (handed to the hooks, never to callers)."""

    id: int = field(default=0, compare=False)
    index_type: str = field(default="halfvec", compare=False)  # see vector_index
    #: the leading components the index covers (the rest are zero: ``check_tail``)
    index_dimensions: int = field(default=STORED_DIMENSION, compare=False)
    rows_estimate: float | None = field(default=None, compare=False)  # its index's reltuples


def from_row(row: Sequence[Any]) -> StoredCollection:
    fields = row[5] if isinstance(row[5], list) else json.loads(row[5] or "[]")
    return StoredCollection(
        name=row[1],
        dimension=row[2],
        model=row[3],
        metric=row[4],
        indexed_fields=tuple(sorted((path, kind) for path, kind in fields)),
        id=row[0],
        index_type=row[6],
        index_dimensions=row[7],
        rows_estimate=None if row[8] is None else float(row[8]),
    )


def check_tail(spec: VectorCollection, matrix: np.ndarray) -> None:
    """Refuse vectors with non-zero components beyond the collection's indexed ones (its index
    would rank them by their leading components only)."""
    dims = getattr(spec, "index_dimensions", STORED_DIMENSION)
    if dims < matrix.shape[1] and len(matrix) and np.any(matrix[:, dims:]):
        row = int(np.flatnonzero(np.any(matrix[:, dims:], axis=1))[0])
        raise InvalidInput(
            f"vector {row} has non-zero components beyond the first {dims}: collection {spec.name!r} indexes "
            f"only those (create_collection(index_dimensions=...))"
        )


def fetch(cursor, name: str) -> StoredCollection:
    """The collection named ``name`` (``UnknownCollection`` when there is none)."""
    cursor.execute(
        f"SELECT {COLUMNS} FROM strata_vector_collection WHERE name = %s",  # noqa: S608
        [name],
    )
    row = cursor.fetchone()
    if row is None:
        raise UnknownCollection(f"vector collection {name!r} does not exist")
    return from_row(row)
