"""What an app keeps in each kind of store, declared by the app (its ``stores.py`` names the
collections and labels; its ``AppConfig.ready`` declares them here), so ``storage_move`` and
``storage_report`` know what to copy, verify and measure for (app, kind) without importing it.

    namespaces.declare("content", document_collections=("content.documents",),
                       vector_prefix="content.", node_labels=("Document",))

Declaring again adds to what was declared (another module may add edge types of its own). An
app whose users name edge types (the knowledge app loads any label) also names a function,
``edge_types_from="dotted.path"``, returning the types it uses now (read from its rows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.utils.module_loading import import_string

from core.storage.ports import DocumentStore, GraphStore, VectorStore


@dataclass(frozen=True)
class Namespace:
    #: DocumentStore collections of the app
    document_collections: tuple[str, ...] = ()
    #: VectorStore collections of the app: every collection whose name starts with this
    vector_prefix: str | None = None
    #: GraphStore node labels and edge types of the app
    node_labels: tuple[str, ...] = ()
    edge_types: tuple[str, ...] = ()
    #: dotted path of a function returning more edge types the app uses (e.g. labels users loaded)
    edge_types_from: str | None = None
    #: dotted path of a function ``model name -> int``: the leading components a model's vectors
    #: use, for a collection copied from a store that does not record its index width
    index_dimensions_from: str | None = None

    def index_dimensions(self, model: str) -> int | None:
        """The index width the app asks for a collection of ``model`` (None: not declared)."""
        return int(import_string(self.index_dimensions_from)(model)) if self.index_dimensions_from else None

    def all_edge_types(self) -> tuple[str, ...]:
        if not self.edge_types_from:
            return self.edge_types
        more = import_string(self.edge_types_from)()
        return tuple(dict.fromkeys((*self.edge_types, *more)))

    def vector_collections(self, store: VectorStore) -> list[str]:
        if not self.vector_prefix:
            return []
        return [c.name for c in store.list_collections() if c.name.startswith(self.vector_prefix)]

    def document_collections_in(self, store: DocumentStore) -> list[str]:
        return list(self.document_collections)

    def labels_in(self, store: GraphStore) -> tuple[list[str], list[str]]:
        """The declared node labels and edge types that exist in ``store``."""
        labels, types = set(store.node_labels()), set(store.edge_types())
        found_types = [t for t in self.all_edge_types() if t in types]
        return [label for label in self.node_labels if label in labels], found_types


_namespaces: dict[str, Namespace] = {}


def declare(
    app: str,
    *,
    document_collections: tuple[str, ...] = (),
    vector_prefix: str | None = None,
    node_labels: tuple[str, ...] = (),
    edge_types: tuple[str, ...] = (),
    edge_types_from: str | None = None,
    index_dimensions_from: str | None = None,
) -> Namespace:
    current = _namespaces.get(app, Namespace())
    merged = replace(
        current,
        document_collections=tuple(dict.fromkeys((*current.document_collections, *document_collections))),
        vector_prefix=vector_prefix or current.vector_prefix,
        node_labels=tuple(dict.fromkeys((*current.node_labels, *node_labels))),
        edge_types=tuple(dict.fromkeys((*current.edge_types, *edge_types))),
        edge_types_from=edge_types_from or current.edge_types_from,
        index_dimensions_from=index_dimensions_from or current.index_dimensions_from,
    )
    _namespaces[app] = merged
    return merged


def namespace(app: str) -> Namespace:
    return _namespaces.get(app, Namespace())


def apps() -> list[str]:
    return sorted(_namespaces)
