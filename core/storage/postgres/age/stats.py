"""What PostgreSQL's statistics say about the graph's label tables (for ``storage_report``):
live and dead rows and size on disk per node label and edge type. One cheap catalogue query; the
row counts are the statistics collector's estimates (``pg_stat_user_tables``)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from core.storage.postgres.age.base import KIND_NAMES, AgeBase


@dataclass(frozen=True)
class LabelTableStats:
    name: str
    kind: str  # "node label" or "edge type"
    live_rows: int
    dead_rows: int
    bytes: int  # the table with its indexes and TOAST

    @property
    def dead_fraction(self) -> float:
        total = self.live_rows + self.dead_rows
        return self.dead_rows / total if total else 0.0


class StatsMixin(AgeBase):
    def label_table_stats(self) -> list[LabelTableStats]:
        """Per label table of this graph, ordered by name (adapter-specific; not part of the port).
        An empty list when the graph does not exist."""
        rows = self._execute(
            sql.SQL(
                "SELECT l.name::text, l.kind::text, coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), "
                "pg_total_relation_size(l.relation) FROM ag_catalog.ag_label l "
                "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = l.relation "
                "WHERE g.name = %s AND l.name NOT LIKE '\\_ag\\_label\\_%%' ORDER BY l.name::text COLLATE \"C\""
            ),
            [self.graph],
        )
        return [LabelTableStats(name, KIND_NAMES[kind], live, dead, size) for name, kind, live, dead, size in rows]
