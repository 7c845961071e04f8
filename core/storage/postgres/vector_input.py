"""Input checks of the pgvector adapter: collection specs, vectors, metadata and filters.

Every check raises one of the port's errors before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from django.conf import settings

from core.storage import validation
from core.storage.ports import DimensionMismatch, InvalidInput, VectorCollection, VectorItem

STORED_DIMENSION = 1536  # strata_vector.embedding is VECTOR(1536)
MAX_MODEL_LENGTH = 200
OPCLASS = {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops", "inner_product": "vector_ip_ops"}


def collection_spec(name: Any, *, dimension: Any, model: Any, metric: Any) -> VectorCollection:
    name = validation.collection_name(name)
    dimension = validation.bounded_int(dimension, what="dimension", low=1, high=16000)
    if dimension != STORED_DIMENSION:
        raise InvalidInput(
            f"cannot create vector collection {name!r} with dimension {dimension}: "
            f"the Postgres vector store keeps VECTOR({STORED_DIMENSION}) embeddings only"
        )
    model = validation.text(model, what="model", max_length=MAX_MODEL_LENGTH)
    if metric not in OPCLASS:
        raise InvalidInput(f"unknown metric {metric!r}; expected one of {sorted(OPCLASS)}")
    return VectorCollection(name=name, dimension=dimension, model=model, metric=metric)


def as_vector(value: Any, spec: VectorCollection, *, what: str) -> np.ndarray:
    """A finite float32 vector of the collection's dimension (lists, tuples and numpy arrays)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be a sequence of numbers: {exc}") from exc
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise InvalidInput(f"{what} must be a flat sequence of numbers, got {array.dtype} with shape {array.shape}")
    if array.shape[0] != spec.dimension:
        raise DimensionMismatch(
            f"{what} has {array.shape[0]} dimensions; collection {spec.name!r} expects {spec.dimension}"
        )
    with np.errstate(over="ignore"):
        array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InvalidInput(f"{what} has NaN or infinite components (or values beyond float32 range)")
    if spec.metric == "cosine" and not array.any():
        raise InvalidInput(f"{what} is all zeros, which has no direction for cosine distance")
    return array


def metadata_text(metadata: Any, *, what: str) -> str:
    return validation.json_object_text(metadata, what=what, max_bytes=settings.STRATA_MAX_METADATA_BYTES)


def filter_text(filter: Any) -> str:
    if not isinstance(filter, Mapping):
        raise InvalidInput(f"a metadata filter must be a JSON object, got {type(filter).__name__}")
    return metadata_text(filter, what="metadata filter")


def prepare_items(items: Iterable[VectorItem], spec: VectorCollection) -> tuple[list[str], np.ndarray, list[str]]:
    """Validated keys, an (n, dimension) float32 matrix and metadata JSON texts; last item per key wins."""
    latest: dict[str, tuple[np.ndarray, str]] = {}
    for position, item in enumerate(items):
        if not isinstance(item, VectorItem):
            raise InvalidInput(f"items[{position}] is a {type(item).__name__}, not a VectorItem")
        key = validation.record_key(item.key, what="key")
        vector = as_vector(item.vector, spec, what=f"vector of item {key!r}")
        if not isinstance(item.metadata, Mapping):
            raise InvalidInput(f"metadata of item {key!r} must be a JSON object")
        metadata = metadata_text(item.metadata, what=f"metadata of item {key!r}")
        latest.pop(key, None)
        latest[key] = (vector, metadata)
    matrix = np.empty((len(latest), spec.dimension), dtype=np.float32)
    for row, (vector, _) in enumerate(latest.values()):
        matrix[row] = vector
    return list(latest), matrix, [metadata for _, metadata in latest.values()]
