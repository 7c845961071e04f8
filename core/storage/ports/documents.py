"""The DocumentStore port: JSON objects by id inside named collections."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from core.storage import filters, validation
from core.storage.ports.base import Store
from core.storage.ports.errors import InvalidInput, NotSupported
from core.storage.ports.features import DocumentFeatures
from core.storage.ports.types import Page, StoredDocument

MAX_PATH_LENGTH = 4096
MAX_SCAN_PAGE = 10_000
MAX_CURSOR_LENGTH = 1024

Document = Mapping[str, Any] | str | bytes


def document_text(document: Any) -> str:
    """A document as compact JSON text (a JSON object under STRATA_MAX_DOCUMENT_BYTES)."""
    return validation.json_object_text(
        document,
        what="document",
        max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES,
        limit_name="STRATA_MAX_DOCUMENT_BYTES",
    )


def validated_documents(documents: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """id -> JSON text for every (id, document) pair, all checked; a repeated id keeps its last document."""
    if isinstance(documents, str | bytes | Mapping):
        raise InvalidInput("documents must be an iterable of (id, document) pairs")
    bodies: dict[str, str] = {}
    for position, pair in enumerate(documents):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidInput(f"documents[{position}] is not an (id, document) pair")
        doc_id = validation.record_key(pair[0])
        bodies.pop(doc_id, None)
        bodies[doc_id] = document_text(pair[1])
    return bodies


def document_filter(where: Any, contains: Any) -> filters.Filter | None:
    """One neutral filter from ``where`` and the containment sugar ``contains`` (a JSON object no
    larger than a document)."""
    if contains is not None and isinstance(contains, Mapping):
        validation.json_object_text(contains, what="containment filter", max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES)
    return filters.combine(where, contains, what="containment filter")


def check_cursor(after: Any) -> str | None:
    if after is None:
        return None
    if not isinstance(after, str) or not 1 <= len(after) <= MAX_CURSOR_LENGTH or "\x00" in after:
        raise InvalidInput("after must be None or the next_cursor of a previous page")
    return after


class DocumentStore(Store):
    """JSON documents (objects) by id inside named collections.

    Hooks receive validated arguments: collection names and ids checked, documents as compact
    JSON text, filters as one neutral ``core.storage.filters`` value (or None)."""

    _is_port = True
    features: DocumentFeatures = DocumentFeatures()

    # ------------------------------------------------------------ collections

    def create_collection(self, name: str) -> None:
        """Create the collection; a no-op when it exists."""
        self._run(self._do_create_collection, validation.collection_name(name))

    def drop_collection(self, name: str) -> None:
        """Delete the collection and every document in it; a no-op when it does not exist."""
        self._run(self._do_drop_collection, validation.collection_name(name))

    # ------------------------------------------------------------ writes

    def put(self, collection: str, doc_id: str, document: Document) -> None:
        """Insert or replace one document. ``str``/``bytes`` are parsed as JSON."""
        collection = validation.collection_name(collection)
        doc_id = validation.record_key(doc_id)
        self._run(self._do_put_many, collection, {doc_id: document_text(document)})

    def put_many(self, collection: str, documents: Iterable[tuple[str, Document]]) -> int:
        """Insert or replace many documents; all are validated before any is written (a repeated
        id keeps its last document). Returns how many distinct ids were written."""
        collection = validation.collection_name(collection)
        bodies = validated_documents(documents)
        self._run(self._do_put_many, collection, bodies)
        return len(bodies)

    def delete(self, collection: str, doc_id: str) -> bool:
        return self.delete_many(collection, [validation.record_key(doc_id)]) == 1

    def delete_many(self, collection: str, doc_ids: Iterable[str]) -> int:
        collection = validation.collection_name(collection)
        return self._run(self._do_delete_many, collection, validation.record_keys(doc_ids))

    # ------------------------------------------------------------ reads

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        doc_id = validation.record_key(doc_id)
        return self.get_many(collection, [doc_id]).get(doc_id)

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The documents that exist, by id."""
        collection = validation.collection_name(collection)
        return self._run(self._do_get_many, collection, validation.record_keys(doc_ids))

    def find(
        self,
        collection: str,
        *,
        where: filters.Filter | None = None,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        """Documents matching the neutral filter ``where``, the containment sugar ``contains``
        (``{"kind": "note"}``) and, where ``features.supports_path_queries``, the SQL/JSON path
        filter ``path`` (e.g. ``'$.tags[*] ? (@ == "ai")'``); ordered by id."""
        args = self._query_args(collection, where, contains, path)
        limit = validation.non_negative_int(limit, what="limit")
        offset = validation.non_negative_int(offset, what="offset")
        rows = self._run(self._do_find, *args, limit=limit, offset=offset, bodies=True)
        return [StoredDocument(id=doc_id, body=body) for doc_id, body in rows]

    def find_ids(
        self,
        collection: str,
        *,
        where: filters.Filter | None = None,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Like ``find`` but only the ids (no bodies); ``limit=None`` means all."""
        args = self._query_args(collection, where, contains, path)
        if limit is not None:
            limit = validation.non_negative_int(limit, what="limit")
        return [doc_id for doc_id, _ in self._run(self._do_find, *args, limit=limit, offset=0, bodies=False)]

    def count(
        self, collection: str, *, where: filters.Filter | None = None, contains: Mapping[str, Any] | None = None
    ) -> int:
        collection = validation.collection_name(collection)
        return self._run(self._do_count, collection, document_filter(where, contains))

    def scan(self, collection: str, *, after: str | None = None, limit: int = 1000) -> Page[StoredDocument]:
        """Every document, a page at a time in a stable order (for backfills and verification):
        start with ``after=None`` and pass each page's ``next_cursor`` until it is None."""
        collection = validation.collection_name(collection)
        limit = validation.bounded_int(limit, what="limit", low=1, high=MAX_SCAN_PAGE)
        return self._run(self._do_scan, collection, check_cursor(after), limit)

    def _query_args(
        self, collection: str, where: Any, contains: Any, path: Any
    ) -> tuple[str, filters.Filter | None, str | None]:
        collection = validation.collection_name(collection)
        condition = document_filter(where, contains)
        if path is not None:
            if not self.features.supports_path_queries:
                raise NotSupported(f"{type(self).__name__} does not support SQL/JSON path queries; use where=")
            path = validation.text(path, what="JSON path", max_length=MAX_PATH_LENGTH)
        return collection, condition, path

    # ------------------------------------------------------------ hooks

    @abstractmethod
    def _do_create_collection(self, name: str) -> None: ...

    @abstractmethod
    def _do_drop_collection(self, name: str) -> None: ...

    @abstractmethod
    def _do_put_many(self, collection: str, bodies: dict[str, str]) -> None:
        """Upsert id -> JSON text; UnknownCollection when the collection does not exist."""

    @abstractmethod
    def _do_delete_many(self, collection: str, doc_ids: list[str]) -> int: ...

    @abstractmethod
    def _do_get_many(self, collection: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    def _do_find(
        self,
        collection: str,
        condition: filters.Filter | None,
        path: str | None,
        *,
        limit: int | None,
        offset: int,
        bodies: bool,
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """(id, body or None) ordered by id."""

    @abstractmethod
    def _do_count(self, collection: str, condition: filters.Filter | None) -> int: ...

    @abstractmethod
    def _do_scan(self, collection: str, after: str | None, limit: int) -> Page[StoredDocument]: ...
