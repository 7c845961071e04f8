"""Cypher through AGE's ``cypher()`` function, parameters bound server-side, results parsed from agtype."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.db import transaction
from psycopg import sql

from core.storage.ports import InvalidInput, InvalidName
from core.storage.postgres.age.base import AgeBase
from core.storage.postgres.age.values import parse_agtype, properties_json

_CYPHER_TAG = "$strata_cypher$"
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_cypher(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("the cypher query must be a non-empty string")
    if "\x00" in query:
        raise InvalidInput("the cypher query may not contain NUL characters")
    # Refusing the tag without its closing "$" also stops a query that ends in "$strata_cypher"
    # from closing the quote early together with the first "$" of the closing tag.
    if _CYPHER_TAG[:-1] in query.lower():
        raise InvalidInput(f"the cypher query may not contain {_CYPHER_TAG[:-1]!r}")
    return query


def _check_columns(columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence) or not columns:
        raise InvalidInput("columns must be a non-empty list of names")
    for column in columns:
        if not isinstance(column, str) or not _COLUMN.fullmatch(column):
            raise InvalidName(f"invalid column name {column!r}: use a letter or _ then letters, digits or _")
    if len(set(columns)) != len(columns):
        raise InvalidInput(f"column names must be distinct, got {list(columns)}")
    return list(columns)


class CypherMixin(AgeBase):
    """``cypher()``: ad hoc Cypher through AGE, with server-side bound parameters."""

    def cypher(
        self, query: str, params: Mapping[str, Any] | None = None, *, columns: Sequence[str] = ("result",)
    ) -> list[dict[str, Any]]:
        """Run Cypher through AGE's ``cypher()`` function; one dict per row keyed by ``columns``.

        AGE only accepts the query text as a dollar-quoted literal, so it is embedded between
        ``$strata_cypher$`` tags (a query containing the tag is refused; ``%`` is escaped for
        psycopg). The parameters travel as ONE server-side bound JSON value (AGE requires a real
        parameter there), hence a raw psycopg cursor on Django's connection: same transaction.
        A savepoint keeps the caller's transaction usable when the query fails; errors the
        database blames on the query (syntax, unknown names, bad values) raise InvalidInput.
        """
        names = _check_columns(columns)
        statement = self._cypher_statement(_check_cypher(query), names)
        arguments = [properties_json(params, what="cypher params")]
        connection = self._connection
        connection.ensure_connection()
        try:
            with transaction.atomic(using=self.using), psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(statement, arguments)
                rows = cursor.fetchall()
        except (psycopg.ProgrammingError, psycopg.DataError) as error:
            raise InvalidInput(f"cypher query refused: {error}") from error
        except psycopg.Error:
            with connection.wrap_database_errors:
                raise
        return [dict(zip(names, map(parse_agtype, row), strict=True)) for row in rows]

    def _cypher_statement(self, query: str, columns: Sequence[str]) -> str:
        body = _CYPHER_TAG + query.replace("%", "%%") + _CYPHER_TAG
        return self._sql(
            sql.SQL("SELECT {selected} FROM ag_catalog.cypher({graph}, {body}, %s) AS t({defined})").format(
                selected=sql.SQL(", ").join(map(sql.Identifier, columns)),
                graph=sql.Literal(self.graph),
                body=sql.SQL(body),
                defined=sql.SQL(", ").join(sql.SQL("{} ag_catalog.agtype").format(sql.Identifier(c)) for c in columns),
            )
        )
