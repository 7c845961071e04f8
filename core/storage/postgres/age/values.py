"""Values and arguments of the AGE adapter: properties as agtype JSON text, agtype output parsed
back, and the checks every method runs on its arguments (raising the port's errors)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings

from core.storage import validation
from core.storage.ports import InvalidInput, MalformedDocument, Node, NodeRef
from core.storage.postgres.age.schema import validate_label

MAX_LIMIT = 2**31 - 1
DIRECTIONS = ("out", "in", "both")
_INT64 = (-(2**63), 2**63 - 1)
REF_TYPES = (NodeRef, Node)  # a Node can stand for its NodeRef
# Fast JSON path: ASCII output. Escaped NUL, surrogates or 19+ digit numbers take the exact path.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_SUSPECT = re.compile(r"\\u(?:0000|d[89a-f])|\d{19}")
_BIG_NUMBER = re.compile(r"\d{19}")
# A JSON string (kept as is) or an agtype annotation outside strings (dropped).
_AGTYPE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|::(?:vertex|edge|path|numeric)\b')


# ---------------------------------------------------------------- values


def check_int64(value: Any, what: str) -> None:
    """agtype integers are 64-bit: refuse bigger ones before the database does."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64[0] <= value <= _INT64[1]:
            raise MalformedDocument(f"{what}: integer {value} does not fit in 64 bits")
    elif isinstance(value, Mapping):
        for item in value.values():
            check_int64(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            check_int64(item, what)


def properties_json(
    properties: Mapping[str, Any] | None,
    *,
    node_key: str | None = None,
    what: str = "properties",
    limit: int | None = None,
) -> str:
    """Validated properties as JSON text (cast to agtype by the SQL); a node's key is added as ``key``.

    The common case is one ``JSONEncoder.encode`` call; anything unusual (not encodable, large,
    escaped NUL or surrogates, huge integers) goes through ``validation.json_object_text``, which
    raises the port's errors. ``limit`` is the size limit in bytes (STRATA_MAX_METADATA_BYTES)."""
    if properties is None:
        properties = {}
    if not isinstance(properties, dict) and not isinstance(properties, Mapping):
        raise MalformedDocument(f"{what} must be a mapping, got {type(properties).__name__}")
    if node_key is not None:
        if "key" in properties:
            raise InvalidInput("the node property 'key' is reserved for the node key; rename the property")
        properties = {**properties, "key": node_key}
    if limit is None:
        limit = settings.STRATA_MAX_METADATA_BYTES
    try:
        text = _ENCODER.encode(properties)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None or len(text) > limit or _SUSPECT.search(text):
        text = validation.json_object_text(properties, what=what, max_bytes=limit)
        if _BIG_NUMBER.search(text):
            check_int64(json.loads(text), what)
    return text


def parse_agtype(text: str | None) -> Any:
    """Python value of agtype text output: vertices/edges become dicts, paths lists, and the
    ``::vertex``/``::edge``/``::path``/``::numeric`` annotations are dropped (outside strings)."""
    if text is None:
        return None
    if "::" in text:
        text = _AGTYPE_TOKEN.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)
    return json.loads(text)


def parse_many(texts: Sequence[str]) -> list[Any]:
    """Parse many agtype texts at once (one JSON parse instead of one per value)."""
    return parse_agtype("[" + ",".join(texts) + "]") if texts else []


def as_node(label: str, properties: dict[str, Any]) -> Node:
    """A Node from stored properties (the ``key`` property becomes the node key)."""
    key = properties.pop("key", None)  # always a string unless the node was written by Cypher
    return Node(label, "" if key is None else str(key), properties)


def index_name(table: str, suffix: str) -> str:
    """An index name that stays unique within the 63-byte identifier limit."""
    name = f"{table}_{suffix}"
    if len(name) <= 63:
        return name
    return f"{table[: 50 - len(suffix)]}_{hashlib.sha1(table.encode()).hexdigest()[:12]}_{suffix}"


# ---------------------------------------------------------------- arguments


def check_key(key: str) -> str:
    return validation.record_key(key, what="node key")


def check_ref(ref: NodeRef, what: str = "node") -> NodeRef:
    if not isinstance(ref, REF_TYPES):
        raise InvalidInput(f"{what} must be a NodeRef, got {type(ref).__name__}")
    return NodeRef(validate_label(ref.label), check_key(ref.key))


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return direction


def check_limit(value: int | None) -> int | None:
    """None (no limit) or a positive integer."""
    return None if value is None else validation.bounded_int(value, what="limit", low=1, high=MAX_LIMIT)


def check_edge_types(edge_types: Sequence[str] | None) -> list[str] | None:
    if edge_types is None:
        return None
    if isinstance(edge_types, str | bytes) or not isinstance(edge_types, Iterable):
        raise InvalidInput("edge_types must be a list of edge type names, or None for all types")
    names = list(dict.fromkeys(validate_label(name) for name in edge_types))
    if not names:
        raise InvalidInput("edge_types must not be empty; pass None for all types")
    return names
