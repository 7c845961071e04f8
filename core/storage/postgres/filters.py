"""The neutral filter compiled to PostgreSQL over a JSONB expression, parameters only.

* ``Eq(path, v)`` is two JSON containments, ``col @> {path: v} OR col @> {path: [v]}`` (a scalar
  equal to ``v``, or an array holding it); both are served by a ``jsonb_path_ops`` GIN index.
  ``In``/``ContainsAny`` are ORs of those, ``ContainsAll`` one containment of the array.
* ``Range`` and ``Exists`` are ``jsonb_path_exists(col, path, vars)``: the path text is built
  from validated, quoted segments only and the bounds travel in the ``vars`` JSON parameter.
  Lax mode applies the test to each element of an array, as ``Eq`` does.
* ``And``/``Or``/``Not`` are SQL's (so ``Not`` also matches a missing path).
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from core.storage import filters
from core.storage.filters import And, ContainsAll, Eq, Exists, Filter, In, Not, Or, Range

_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compile_filter(condition: Filter, column: sql.Composable) -> tuple[sql.Composable, list[Any]]:
    """(SQL condition, parameters) testing the JSONB expression ``column``."""
    params: list[Any] = []
    return _compile(condition, column, params), params


def _nested(path: filters.PathSegments, value: Any) -> str:
    for segment in reversed(path):
        value = {segment: value}
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _jsonpath(path: filters.PathSegments) -> str:
    return "$" + "".join("." + json.dumps(segment, ensure_ascii=False) for segment in path)


def _contains(column: sql.Composable, path: filters.PathSegments, value: Any, params: list[Any]) -> sql.Composable:
    params.append(_nested(path, value))
    return sql.SQL("{} @> %s::jsonb").format(column)


def _eq(column: sql.Composable, path: filters.PathSegments, value: Any, params: list[Any]) -> sql.Composable:
    scalar = _contains(column, path, value, params)
    element = _contains(column, path, [value], params)
    return sql.SQL("({} OR {})").format(scalar, element)


def _compile(condition: Filter, column: sql.Composable, params: list[Any]) -> sql.Composable:
    if isinstance(condition, Eq):
        return _eq(column, condition.path, condition.value, params)
    if isinstance(condition, In):  # and ContainsAny
        parts = [_eq(column, condition.path, value, params) for value in condition.values]
        return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
    if isinstance(condition, ContainsAll):
        if len(condition.values) == 1:
            return _eq(column, condition.path, condition.values[0], params)
        return _contains(column, condition.path, list(condition.values), params)
    if isinstance(condition, Range):
        bounds = condition.bounds()
        test = " && ".join(f"@ {_OPERATORS[name]} ${name}" for name in bounds)
        params.extend([f"{_jsonpath(condition.path)} ? ({test})", json.dumps(bounds)])
        return sql.SQL("jsonb_path_exists({}, %s::jsonpath, %s::jsonb)").format(column)
    if isinstance(condition, Exists):
        params.append(f"{_jsonpath(condition.path)} ? (@ != null)")
        return sql.SQL("jsonb_path_exists({}, %s::jsonpath)").format(column)
    if isinstance(condition, Not):
        return sql.SQL("(NOT {})").format(_compile(condition.filter, column, params))
    if isinstance(condition, And):  # and Or
        joiner, empty = (" OR ", "FALSE") if isinstance(condition, Or) else (" AND ", "TRUE")
        if not condition.filters:
            return sql.SQL(empty)
        parts = [_compile(inner, column, params) for inner in condition.filters]
        return sql.SQL("({})").format(sql.SQL(joiner).join(parts))
    raise TypeError(f"not a filter: {condition!r}")  # check_filter ran before
