"""Input checks of the VectorStore port: collection specs, vectors, metadata and filters.

Every check raises one of the port's errors before anything is written; the port's public
methods run them, so every adapter gets the same checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from django.conf import settings

from core.storage import filters, validation
from core.storage.ports.errors import DimensionMismatch, InvalidInput
from core.storage.ports.features import VectorFeatures
from core.storage.ports.types import VectorCollection, VectorItem

MAX_MODEL_LENGTH = 200
METRICS = ("cosine", "l2", "inner_product")
#: the index kinds ``create_collection(index=...)`` may ask for (see VectorStore.create_collection)
INDEX_KINDS = ("halfvec", "vector", "binary")
FIELD_TYPES = ("keyword", "integer", "float", "bool")


def indexed_fields(fields: Any) -> tuple[tuple[str, str], ...]:
    """``{"doc.lang": "keyword", "year": "integer"}`` as sorted (dotted path, type) pairs."""
    if fields is None:
        return ()
    if not isinstance(fields, Mapping):
        raise InvalidInput('indexed_fields must be a mapping of metadata path -> type, e.g. {"lang": "keyword"}')
    pairs = {}
    for path, field_type in fields.items():
        segments = filters.parse_path(path)
        if field_type not in FIELD_TYPES:
            raise InvalidInput(f"indexed field {path!r} has unknown type {field_type!r}; expected one of {FIELD_TYPES}")
        pairs[".".join(segments)] = field_type
    return tuple(sorted(pairs.items()))


def collection_spec(
    name: Any, *, dimension: Any, model: Any, metric: Any, fields: Any, features: VectorFeatures
) -> VectorCollection:
    name = validation.collection_name(name)
    dimension = validation.bounded_int(dimension, what="dimension", low=1, high=features.max_dimension)
    if features.dimensions is not None and dimension not in features.dimensions:
        allowed = ", ".join(map(str, sorted(features.dimensions)))
        raise InvalidInput(
            f"cannot create vector collection {name!r} with dimension {dimension}: this vector store keeps "
            f"dimension {allowed} only"
        )
    model = validation.text(model, what="model", max_length=MAX_MODEL_LENGTH)
    if metric not in METRICS or metric not in features.metrics:
        raise InvalidInput(f"unknown metric {metric!r}; expected one of {sorted(features.metrics)}")
    return VectorCollection(
        name=name, dimension=dimension, model=model, metric=metric, indexed_fields=indexed_fields(fields)
    )


def index_kind(value: Any) -> str | None:
    if value is None or value in INDEX_KINDS:
        return value
    raise InvalidInput(f"unknown vector index {value!r}; expected one of {', '.join(INDEX_KINDS)} (or None)")


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
    return validation.json_object_text(
        metadata, what=what, max_bytes=settings.STRATA_MAX_METADATA_BYTES, limit_name="STRATA_MAX_METADATA_BYTES"
    )


def prepare_items(items: Iterable[VectorItem], spec: VectorCollection) -> tuple[list[str], np.ndarray, list[str]]:
    """Validated keys, an (n, dimension) float32 matrix and metadata JSON texts; last item per key wins."""
    if isinstance(items, str | bytes | Mapping | VectorItem):
        raise InvalidInput("items must be an iterable of VectorItem")
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


def metadata_filter(where: Any, filter: Any) -> filters.Filter | None:  # noqa: A002
    """One neutral filter from ``where`` and the containment sugar ``filter`` (a JSON object)."""
    if filter is not None and not isinstance(filter, Mapping):
        raise InvalidInput(f"a metadata filter must be a JSON object, got {type(filter).__name__}")
    if filter is not None:
        metadata_text(filter, what="metadata filter")  # NaN, NUL, size: the same refusals as metadata
    return filters.combine(where, filter, what="metadata filter")
