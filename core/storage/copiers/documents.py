"""The documents copier: a unit is a document collection, a key a document's id, its checksum the
digest of its body."""

from __future__ import annotations

from typing import Any

from core.storage.copiers.base import Copier, digest, pages
from core.storage.ports import DocumentStore, Store


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
        return {doc.id for items in pages(lambda after: store.scan(unit, after=after, limit=1000)) for doc in items}  # type: ignore[attr-defined]

    def copy_keys(self, unit: str, keys: list[str]) -> int:
        return self._write(unit, self.source.get_many(unit, keys))

    def delete_keys(self, unit: str, keys: list[str]) -> int:
        return self.target.delete_many(unit, keys)

    def checksums(self, store: Store, unit: str, keys: list[str]) -> dict[str, str]:
        return {key: digest(body) for key, body in store.get_many(unit, keys).items()}  # type: ignore[attr-defined]
