"""The neutral filter compiled to a parameterized Cypher ``WHERE`` over a node's properties.

Only top-level, natively stored properties can be tested (``features.supports_nested_filter_paths``
is False). Names go into the text backticked after the strict identifier check; every value is a
``$fN`` parameter. Each test is ``coalesce(..., false)``, so a missing property is false and
``NOT`` of it true, as the port says; an array matches through an element, as ``Eq`` says.
"""

from __future__ import annotations

from typing import Any

from core.storage.falkordb.values import NAME
from core.storage.filters import And, ContainsAll, Eq, Exists, Filter, In, Not, Or, PathSegments, Range
from core.storage.ports import NotSupported

_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUMBER = "typeOf({x}) IN ['Integer', 'Float']"


def compile_where(condition: Filter, alias: str = "n") -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    return _compile(condition, alias, params), params


def _property(alias: str, path: PathSegments) -> str:
    if len(path) != 1 or not NAME.fullmatch(path[0]):
        raise NotSupported(f"FalkorDB filters test top-level property names only, got {'.'.join(path)!r}")
    return f"{alias}.`{path[0]}`"


def _param(params: dict[str, Any], value: Any) -> str:
    name = f"f{len(params)}"
    params[name] = value
    return f"${name}"


def _elements(prop: str) -> str:
    """The property's elements when it is an array, else none (FalkorDB type-checks ``IN``
    operands even in a CASE branch that is not taken)."""
    return f"CASE WHEN typeOf({prop}) = 'List' THEN {prop} ELSE [] END"


def _either(prop: str, test: str) -> str:
    """``test`` (with ``{x}``) on a scalar property, or on some element of an array property."""
    scalar = f"(typeOf({prop}) <> 'List' AND {test.format(x=prop)})"
    element = f"any(x IN {_elements(prop)} WHERE {test.format(x='x')})"
    return f"coalesce({scalar} OR {element}, false)"


def _eq(prop: str, value: Any, params: dict[str, Any]) -> str:
    p = _param(params, value)
    same_kind = "typeOf({x}) = 'Boolean'" if isinstance(value, bool) else "typeOf({x}) <> 'Boolean'"
    return _either(prop, f"{{x}} = {p} AND {same_kind}")


def _compile(condition: Filter, alias: str, params: dict[str, Any]) -> str:
    if isinstance(condition, Eq):
        return _eq(_property(alias, condition.path), condition.value, params)
    if isinstance(condition, In):  # and ContainsAny
        prop = _property(alias, condition.path)
        return "(" + " OR ".join(_eq(prop, value, params) for value in condition.values) + ")"
    if isinstance(condition, ContainsAll):
        prop = _property(alias, condition.path)
        return "(" + " AND ".join(_eq(prop, value, params) for value in condition.values) + ")"
    if isinstance(condition, Range):
        prop = _property(alias, condition.path)
        tests = [f"{{x}} {_OPERATORS[name]} {_param(params, bound)}" for name, bound in condition.bounds().items()]
        return _either(prop, " AND ".join([_NUMBER, *tests]))
    if isinstance(condition, Exists):
        prop = _property(alias, condition.path)
        return f"coalesce({prop} IS NOT NULL AND (typeOf({prop}) <> 'List' OR size({_elements(prop)}) > 0), false)"
    if isinstance(condition, Not):
        return f"(NOT {_compile(condition.filter, alias, params)})"
    if isinstance(condition, And):  # and Or
        joiner, empty = (" OR ", "false") if isinstance(condition, Or) else (" AND ", "true")
        if not condition.filters:
            return empty
        return "(" + joiner.join(_compile(inner, alias, params) for inner in condition.filters) + ")"
    raise TypeError(f"not a filter: {condition!r}")  # check_filter ran before
