"""The errors every store raises on purpose, whichever adapter serves it.

Adapters map their client's errors onto these (``Store._map_error``): bad input is refused with
an ``InvalidInput`` before anything is written, and a store that cannot be reached raises
``StoreUnavailable``, the one retryable error (an outbox handler retries on it).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error a store raises on purpose."""


class InvalidInput(StorageError, ValueError):
    """The caller passed something the store refuses (nothing was written)."""


class MalformedDocument(InvalidInput):
    """Not a JSON object, not serialisable, or not storable (e.g. NaN, NUL characters)."""


class PayloadTooLarge(InvalidInput):
    """A document or metadata payload is over the configured size limit."""


class InvalidName(InvalidInput):
    """A collection, label or key does not match the allowed pattern."""


class InvalidFilter(InvalidInput):
    """A filter (neutral ``core.storage.filters`` type or containment sugar) that cannot be used."""


class UnknownCollection(StorageError, LookupError):
    """The collection has not been created."""


class CollectionConflict(StorageError):
    """A collection exists with a different dimension / model / metric."""


class DimensionMismatch(InvalidInput):
    """A vector's length differs from its collection's dimension."""


class ModelMismatch(InvalidInput):
    """Vectors made by one embedding model written to / searched in another model's collection."""


class UnknownLabel(InvalidInput, LookupError):
    """A node label or edge type that has not been defined in the graph."""


class TraversalTooLarge(InvalidInput):
    """A traversal would do more work than one call may (``STRATA_GRAPH_MAX_WORK`` edges
    followed): narrow it (fewer edge types, a smaller depth, other endpoints). Nothing partial
    is returned."""


class NodeNotFound(StorageError, LookupError):
    """An edge endpoint (or traversal start) does not exist."""


class NotSupported(StorageError, NotImplementedError):
    """An optional capability the adapter does not have (its ``features`` say so)."""


class StoreUnavailable(StorageError):
    """The store cannot be reached right now (connection refused or lost, timeout, server
    shutting down). Retryable: nothing is known to have been written, and an idempotent write
    may simply be tried again later."""


class CacheUnavailable(StoreUnavailable):
    """The cache server cannot be reached. Only a cache's deletes raise it (an invalidation must
    not be lost silently); its reads and writes degrade to misses."""
