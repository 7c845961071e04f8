"""Scans and counts of the AGE graph (for backfills and verification): nodes page by key on the
label's unique key index, edges by their graphid; node filters compile over the properties."""

from __future__ import annotations

import json

from psycopg import sql

from core.storage import filters
from core.storage.ports import Edge, InvalidInput, Node, Page
from core.storage.postgres.age.base import AGTYPE_PARAM, AgeBase
from core.storage.postgres.age.values import as_node, parse_many
from core.storage.postgres.filters import compile_filter

_PROPERTIES = sql.SQL("properties::text::jsonb")


class ScanMixin(AgeBase):
    def _do_scan_nodes(self, label: str, condition: filters.Filter | None, after: str | None, limit: int) -> Page[Node]:
        where, params = (sql.SQL("TRUE"), []) if condition is None else compile_filter(condition, _PROPERTIES)
        after_param = None if after is None else json.dumps(after)
        rows = self._execute(
            sql.SQL(
                "SELECT properties::text FROM {table} WHERE ({after}::text IS NULL OR {key} > {after}) AND {where} "
                "ORDER BY {key} LIMIT %s"
            ).format(table=self._table(label), key=self._key_of(), after=AGTYPE_PARAM, where=where),
            [after_param, after_param, *params, limit + 1],
        )
        items = [as_node(label, props) for props in parse_many([text for (text,) in rows[:limit]])]
        return Page(items=items, next_cursor=items[-1].key if len(rows) > limit else None)

    def _do_scan_edges(self, edge_type: str, after: str | None, limit: int) -> Page[Edge]:
        if after is not None and not (after.isascii() and after.isdigit()):
            raise InvalidInput(f"after must be the next_cursor of a previous page of this store, got {after!r}")
        rows = self._execute(
            sql.SQL(
                "SELECT id::text, start_id::text, end_id::text, properties::text FROM {} "
                "WHERE (%s::text IS NULL OR id > %s::text::ag_catalog.graphid) ORDER BY id LIMIT %s"
            ).format(self._table(edge_type)),
            [after, after, limit + 1],
        )
        page = rows[:limit]
        refs = self._refs_by_id({gid for _, start, end, _ in page for gid in (start, end)})
        properties = parse_many([props for *_, props in page])
        items = [
            Edge(edge_type, refs[start], refs[end], props)
            for (_, start, end, _), props in zip(page, properties, strict=True)
        ]
        return Page(items=items, next_cursor=page[-1][0] if len(rows) > limit else None)

    def _do_count_nodes(self, label: str | None, condition: filters.Filter | None) -> int:
        if not self.graph_exists():
            return 0
        where, params = (sql.SQL("TRUE"), []) if condition is None else compile_filter(condition, _PROPERTIES)
        table = self._table(label or "_ag_label_vertex")
        return self._execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, where), params)[0][0]

    def _do_count_edges(self, edge_type: str | None) -> int:
        if not self.graph_exists():
            return 0
        return self._execute(sql.SQL("SELECT count(*) FROM {}").format(self._table(edge_type or "_ag_label_edge")))[0][
            0
        ]
