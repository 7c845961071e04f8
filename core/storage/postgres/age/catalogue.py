"""The label catalogue of an AGE graph, kept in memory and checked against a cheap version.

Every port call names labels and edge types that must exist (``_do_require``), and every
traversal result has to turn graphids back into label names. Asking ``ag_catalog.ag_label``
each time cost a round trip per call. Instead each process keeps, per (database, graph), the
names, kinds and label ids, plus a *version*: the graph's oid, the number of its labels and the
sum of their tables' oids. Creating or dropping a label or the graph (by this process, another
one, or Cypher's implicit ``CREATE``) changes it, and so does a dropped and recreated label
(new table, new oid).

Traversal queries return the version in their first row (one scalar subquery over the tiny
``ag_label`` table, no extra round trip). When it differs from the one in memory the catalogue
is reloaded and the call's labels are checked again. A name the catalogue does not know is
never refused on the cached word alone: the catalogue is reloaded first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from psycopg import sql

VERTEX, EDGE = "v", "e"
LABEL_ID_SHIFT = 48  # a graphid is (label id << 48) | entry id

VERSION_SQL = sql.SQL(
    "(SELECT min(g.graphid::int8)::text || ':' || count(*) || ':' || coalesce(sum(l.relation::oid::int8), 0) "
    "FROM ag_catalog.ag_graph g JOIN ag_catalog.ag_label l ON l.graph = g.graphid WHERE g.name = {})"
)
_LOAD_SQL = sql.SQL(
    "SELECT l.name::text, l.kind::text, l.id::int, {version} FROM ag_catalog.ag_label l "
    "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph WHERE g.name = {graph} "
    "UNION ALL SELECT NULL, NULL, NULL, {version}"
)


def version_sql(graph: str) -> sql.Composable:
    return VERSION_SQL.format(sql.Literal(graph))


def load_sql(graph: str) -> sql.Composable:
    return _LOAD_SQL.format(version=version_sql(graph), graph=sql.Literal(graph))


@dataclass
class Catalogue:
    """One graph's labels as last read: name -> (kind, label id), label id -> name."""

    version: str | None
    kinds: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> Catalogue:
        catalogue = cls(version=rows[0][3] if rows else None)
        for name, kind, label_id, _ in rows:
            if name is None or name.startswith("_ag_label_"):
                continue
            catalogue.kinds[name] = kind
            catalogue.ids[name] = label_id
            catalogue.names[label_id] = name
        return catalogue

    def label_of(self, graph_id: str | int) -> str | None:
        return self.names.get(int(graph_id) >> LABEL_ID_SHIFT)

    def only_label(self, kind: str) -> str | None:
        """The graph's one label of ``kind``, when it has exactly one."""
        found = [name for name, value in self.kinds.items() if value == kind]
        return found[0] if len(found) == 1 else None

    def sorted_ids(self, kind: str) -> list[int]:
        """Label ids of ``kind`` ordered by name (code point): the (label, key) order in SQL."""
        return [self.ids[name] for name in sorted(self.kinds) if self.kinds[name] == kind]


class Catalogues:
    """The process's catalogues by (database, graph); threads share them (replaced whole)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, ...], Catalogue] = {}
        self._pending: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    # A label created inside a transaction that has not committed yet may still be rolled back;
    # until it commits, the graph's catalogue is checked against the database before each use
    # (a statement naming a table that vanished would abort the caller's transaction).

    def is_pending(self, key: tuple[str, ...]) -> bool:
        return key in self._pending

    def mark_pending(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._pending.add(key)

    def clear_pending(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._pending.discard(key)

    def get(self, key: tuple[str, ...]) -> Catalogue | None:
        return self._by_key.get(key)

    def put(self, key: tuple[str, ...], catalogue: Catalogue) -> None:
        with self._lock:
            self._by_key[key] = catalogue

    def forget(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._by_key.pop(key, None)


CATALOGUES = Catalogues()
