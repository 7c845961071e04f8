"""The neutral filter type every adapter compiles (PostgreSQL: JSONB containment and jsonpath
with parameters; Qdrant: its ``Filter`` models; FalkorDB: a parameterized Cypher ``WHERE``).

    from core.storage.filters import Eq, In, Range, And, Not, Exists
    store.search(collection, vector, model=m, where=And(Eq("lang", "en"), Range("year", gte=2020)))

A path is dotted (``"doc.lang"``) or a tuple of segments (``("doc", "lang")``); each segment is
1-128 letters, digits, ``_`` or ``-``. Values are JSON scalars: strings, integers, floats and
booleans (null is not a value: use ``Not(Exists(path))``).

Semantics (the contract suites pin them down on every adapter):

* ``Eq(path, v)``: the value at ``path`` equals ``v``; when it is an array, some element equals
  ``v`` (MongoDB's and Qdrant's rule). Numbers compare by value (``1 == 1.0``), and booleans
  are not numbers.
* ``In(path, values)``: ``Eq`` for at least one of ``values``. ``ContainsAny`` is the same test
  written for array fields; ``ContainsAll(path, values)``: ``Eq`` for every one of ``values``.
* ``Range(path, gt=, gte=, lt=, lte=)``: a number (or some number of an array) within bounds.
* ``Exists(path)``: the path holds a value that is not null (an empty array holds none).
* ``And``/``Or``/``Not``: as in logic; ``Not`` also matches items where the path is missing.
  ``And()`` matches everything, ``Or()`` nothing.

Today's JSON-containment dicts are sugar (``from_containment``): ``{"lang": "en", "tags":
["ai"], "doc": {"year": 2024}}`` becomes ``And(Eq("lang", "en"), ContainsAll("tags", ["ai"]),
Eq("doc.year", 2024))``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from core.storage.ports.errors import InvalidFilter

Scalar = Union[str, int, float, bool]  # noqa: UP007 (a runtime alias used in isinstance checks)
PathSegments = tuple[str, ...]

_SEGMENT = re.compile(r"[\w-]{1,128}")
MAX_DEPTH = 16  # path segments and nesting of And/Or/Not
MAX_VALUES = 1000  # values of one In / ContainsAny / ContainsAll
MAX_CONDITIONS = 5000  # conditions and values of a whole filter (its compiled size stays bounded)
MAX_STRING = 4096
_INT64 = 2**63


def parse_path(path: Any) -> PathSegments:
    """A validated path as a tuple of segments (from ``"a.b"`` or ``("a", "b")``)."""
    if isinstance(path, str):
        segments = tuple(path.split("."))
    elif isinstance(path, tuple | list) and all(isinstance(part, str) for part in path):
        segments = tuple(path)
    else:
        raise InvalidFilter(f"a filter path must be a dotted string or a tuple of strings, got {path!r}")
    if not 1 <= len(segments) <= MAX_DEPTH or not all(_SEGMENT.fullmatch(part) for part in segments):
        raise InvalidFilter(
            f"invalid filter path {path!r}: use 1-{MAX_DEPTH} dot-separated names of 1-128 letters, digits, _ or -"
        )
    return segments


def check_scalar(value: Any, *, what: str = "filter value") -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise InvalidFilter(f"{what} {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidFilter(f"{what} must be finite, got {value!r}")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING or "\x00" in value:
            raise InvalidFilter(f"{what} must be a string of at most {MAX_STRING} characters without NUL")
        return value
    raise InvalidFilter(f"{what} must be a string, number or boolean, got {type(value).__name__}")


def _number(value: Any, what: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFilter(f"Range bound {what} must be a number, got {value!r}")
    return check_scalar(value, what=f"Range bound {what}")  # type: ignore[return-value]


def _values(values: Any, kind: str) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidFilter(f"{kind} needs a list of values, got {type(values).__name__}")
    checked = tuple(dict.fromkeys((type(v), check_scalar(v)) for v in values))
    if not 1 <= len(checked) <= MAX_VALUES:
        raise InvalidFilter(f"{kind} needs 1-{MAX_VALUES} values, got {len(checked)}")
    return tuple(value for _, value in checked)


# ---------------------------------------------------------------- the filter type


@dataclass(frozen=True, init=False)
class Eq:
    path: PathSegments
    value: Scalar

    def __init__(self, path: str | PathSegments, value: Scalar) -> None:
        object.__setattr__(self, "path", parse_path(path))
        object.__setattr__(self, "value", check_scalar(value))


@dataclass(frozen=True, init=False)
class In:
    path: PathSegments
    values: tuple[Scalar, ...]

    def __init__(self, path: str | PathSegments, values: Iterable[Scalar]) -> None:
        object.__setattr__(self, "path", parse_path(path))
        object.__setattr__(self, "values", _values(values, type(self).__name__))


class ContainsAny(In):
    """Some element of the array at ``path`` is one of ``values``."""


@dataclass(frozen=True, init=False)
class ContainsAll:
    path: PathSegments
    values: tuple[Scalar, ...]

    def __init__(self, path: str | PathSegments, values: Iterable[Scalar]) -> None:
        object.__setattr__(self, "path", parse_path(path))
        object.__setattr__(self, "values", _values(values, "ContainsAll"))


@dataclass(frozen=True, init=False)
class Range:
    path: PathSegments
    gt: int | float | None = None
    gte: int | float | None = None
    lt: int | float | None = None
    lte: int | float | None = None

    def __init__(
        self,
        path: str | PathSegments,
        *,
        gt: float | None = None,
        gte: float | None = None,
        lt: float | None = None,
        lte: float | None = None,
    ) -> None:
        object.__setattr__(self, "path", parse_path(path))
        bounds = {
            "gt": _number(gt, "gt"),
            "gte": _number(gte, "gte"),
            "lt": _number(lt, "lt"),
            "lte": _number(lte, "lte"),
        }
        if all(bound is None for bound in bounds.values()):
            raise InvalidFilter("Range needs at least one of gt, gte, lt, lte")
        if (
            bounds["gt"] is not None
            and bounds["gte"] is not None
            or bounds["lt"] is not None
            and bounds["lte"] is not None
        ):
            raise InvalidFilter("Range takes gt or gte (not both) and lt or lte (not both)")
        for name, bound in bounds.items():
            object.__setattr__(self, name, bound)

    def bounds(self) -> dict[str, int | float]:
        return {name: getattr(self, name) for name in ("gt", "gte", "lt", "lte") if getattr(self, name) is not None}


@dataclass(frozen=True, init=False)
class Exists:
    path: PathSegments

    def __init__(self, path: str | PathSegments) -> None:
        object.__setattr__(self, "path", parse_path(path))


@dataclass(frozen=True, init=False)
class And:
    filters: tuple[Filter, ...]

    def __init__(self, *filters: Filter) -> None:
        object.__setattr__(self, "filters", tuple(check_filter(f) for f in filters))


class Or(And):
    """At least one of ``filters`` (``Or()`` matches nothing)."""


@dataclass(frozen=True, init=False)
class Not:
    filter: Filter

    def __init__(self, filter: Filter) -> None:  # noqa: A002
        object.__setattr__(self, "filter", check_filter(filter))


Filter = Union[Eq, In, ContainsAny, ContainsAll, Range, Exists, And, Or, Not]  # noqa: UP007
FILTER_TYPES = (Eq, In, ContainsAll, Range, Exists, And, Not)  # ContainsAny and Or are subclasses


def check_filter(value: Any, *, depth: int = 0) -> Filter:
    """``value`` itself when it is a filter (nested at most MAX_DEPTH deep), else InvalidFilter."""
    if not isinstance(value, FILTER_TYPES):
        raise InvalidFilter(
            f"expected a filter from core.storage.filters (Eq, In, Range, And, ...), got {type(value).__name__}"
        )
    if depth > MAX_DEPTH:
        raise InvalidFilter(f"filters may nest at most {MAX_DEPTH} levels deep")
    if isinstance(value, And):
        for inner in value.filters:
            check_filter(inner, depth=depth + 1)
    elif isinstance(value, Not):
        check_filter(value.filter, depth=depth + 1)
    if depth == 0 and _size(value) > MAX_CONDITIONS:
        raise InvalidFilter(f"a filter may hold at most {MAX_CONDITIONS} conditions and values")
    return value


def _size(value: Filter) -> int:
    if isinstance(value, And):
        return 1 + sum(_size(inner) for inner in value.filters)
    if isinstance(value, Not):
        return 1 + _size(value.filter)
    return 1 + len(getattr(value, "values", ()))


def is_match_all(value: Filter) -> bool:
    """True for a filter that is an empty ``And`` (matches every item)."""
    return type(value) is And and all(is_match_all(inner) for inner in value.filters)


def paths(value: Filter) -> list[PathSegments]:
    """Every path a filter addresses (for adapters that limit which paths they can filter on)."""
    if isinstance(value, And):
        return [path for inner in value.filters for path in paths(inner)]
    if isinstance(value, Not):
        return paths(value.filter)
    return [value.path]


# ---------------------------------------------------------------- containment sugar


def from_containment(contains: Any, *, what: str = "containment filter") -> Filter:
    """The neutral filter for a JSON-containment dict (``{"a": {"b": 1}, "tags": ["x"]}``).

    Objects nest into paths, scalars become ``Eq``, arrays of scalars ``ContainsAll`` (an empty
    array adds no condition). Null and arrays holding objects or arrays are refused."""
    if not isinstance(contains, Mapping):
        raise InvalidFilter(f"a {what} must be a JSON object, got {type(contains).__name__}")
    return And(*_containment(contains, (), what))


def _containment(mapping: Mapping[Any, Any], prefix: PathSegments, what: str) -> list[Filter]:
    conditions: list[Filter] = []
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise InvalidFilter(f"{what}: keys must be strings, got {key!r}")
        try:
            path = parse_path((*prefix, key))
        except InvalidFilter:
            raise InvalidFilter(
                f"{what}: key {key!r} cannot be filtered on; use 1-128 letters, digits, _ or - "
                f"(at most {MAX_DEPTH} levels deep)"
            ) from None
        if isinstance(value, Mapping):
            conditions.extend(_containment(value, path, what))
        elif isinstance(value, list | tuple):
            if any(isinstance(item, Mapping | list | tuple) or item is None for item in value):
                raise InvalidFilter(f"{what}: arrays may hold strings, numbers and booleans only (at {'.'.join(path)})")
            if value:
                conditions.append(ContainsAll(path, value))
        elif value is None:
            raise InvalidFilter(f"{what}: null is not a filter value (at {'.'.join(path)}); use Not(Exists(path))")
        else:
            conditions.append(Eq(path, value))
    return conditions


def combine(where: Filter | None, contains: Mapping[str, Any] | None, *, what: str = "filter") -> Filter | None:
    """One filter from the neutral ``where`` and the containment sugar ``contains`` (None: no filter)."""
    parts: list[Filter] = []
    if where is not None:
        parts.append(check_filter(where))
    if contains is not None:
        parts.append(from_containment(contains, what=what))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(*parts)
