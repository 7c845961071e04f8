"""Cypher through AGE's ``cypher()`` function, parameters bound server-side, results converted
from agtype to the port's neutral values (Node, Edge, Path, JSON values)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from django.db import transaction
from psycopg import sql

from core.storage.ports import Edge, InvalidInput, Node, NodeRef, Path
from core.storage.postgres.age.base import AgeBase
from core.storage.postgres.age.values import KIND, as_node, parse_tagged

_CYPHER_TAG = "$strata_cypher$"
_MAY_CREATE_LABELS = re.compile(r"\b(?:CREATE|MERGE)\b", re.IGNORECASE)


class CypherMixin(AgeBase):
    """``cypher()``: ad hoc Cypher through AGE, with server-side bound parameters."""

    def _do_cypher(
        self, query: str, params: str, columns: list[str], *, read_only: bool = False, max_rows: int | None = None
    ) -> list[dict[str, Any]]:
        """Run Cypher through AGE's ``cypher()`` function; one dict per row keyed by ``columns``.

        AGE only accepts the query text as a dollar-quoted literal, so it is embedded between
        ``$strata_cypher$`` tags (a query containing the tag is refused; ``%`` is escaped for
        psycopg). The parameters travel as ONE server-side bound JSON value (AGE requires a real
        parameter there), hence a raw psycopg cursor on Django's connection: same transaction.
        A savepoint keeps the caller's transaction usable when the query fails; errors the
        database blames on the query (syntax, unknown names, bad values) raise InvalidInput.
        """
        # Refusing the tag without its closing "$" also stops a query that ends in "$strata_cypher"
        # from closing the quote early together with the first "$" of the closing tag.
        if _CYPHER_TAG[:-1] in query.lower():
            raise InvalidInput(f"the cypher query may not contain {_CYPHER_TAG[:-1]!r}")
        statement = self._cypher_statement(query, columns, max_rows)
        connection = self._connection
        connection.ensure_connection()
        try:
            with transaction.atomic(using=self.using), psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(statement, [params])
                rows = cursor.fetchall()
        except (psycopg.ProgrammingError, psycopg.DataError) as error:
            raise InvalidInput(f"cypher query refused: {error}") from error
        except psycopg.Error:
            with connection.wrap_database_errors:
                raise
        if _MAY_CREATE_LABELS.search(query):  # Cypher creates the labels it names: as define does
            self._labels_created(connection.in_atomic_block)
        parsed = [[parse_tagged(value) for value in row] for row in rows]
        refs = self._refs_by_id(_edge_ends(parsed)) if parsed else {}
        return [dict(zip(columns, (_neutral(v, refs) for v in row), strict=True)) for row in parsed]

    def _cypher_statement(self, query: str, columns: list[str], max_rows: int | None = None) -> str:
        body = _CYPHER_TAG + query.replace("%", "%%") + _CYPHER_TAG
        limit = sql.SQL("") if max_rows is None else sql.SQL(" LIMIT {}").format(sql.Literal(int(max_rows)))
        return self._sql(
            sql.SQL("SELECT {selected} FROM ag_catalog.cypher({graph}, {body}, %s) AS t({defined}){limit}").format(
                selected=sql.SQL(", ").join(map(sql.Identifier, columns)),
                graph=sql.Literal(self.graph),
                body=sql.SQL(body),
                defined=sql.SQL(", ").join(sql.SQL("{} ag_catalog.agtype").format(sql.Identifier(c)) for c in columns),
                limit=limit,
            )
        )


def _edge_ends(value: Any) -> set[str]:
    """The graphids (as text) of every edge endpoint inside a parsed result."""
    if isinstance(value, dict):
        if value.get(KIND) == "edge":
            return {str(value["start_id"]), str(value["end_id"])}
        return {gid for item in value.values() for gid in _edge_ends(item)}
    if isinstance(value, list):
        return {gid for item in value for gid in _edge_ends(item)}
    return set()


def _neutral(value: Any, refs: dict[str, NodeRef]) -> Any:
    if isinstance(value, list):
        return [_neutral(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(KIND)
    if kind == "vertex":
        return as_node(value["label"], dict(value.get("properties") or {}))
    if kind == "edge":
        source, target = refs.get(str(value["start_id"])), refs.get(str(value["end_id"]))
        missing = NodeRef("", "")
        return Edge(value["label"], source or missing, target or missing, dict(value.get("properties") or {}))
    if kind == "path":
        items = [_neutral(item, refs) for item in value["items"]]
        return Path(
            nodes=[item for item in items if isinstance(item, Node)],
            edges=[item for item in items if isinstance(item, Edge)],
        )
    return {key: _neutral(item, refs) for key, item in value.items()}
