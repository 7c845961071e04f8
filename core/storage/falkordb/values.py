"""Properties as FalkorDB stores them, and query results as the port's neutral values.

FalkorDB property values are strings, numbers, booleans or arrays of them; a property name is
written into the query text (backticked), so only identifier-like names are stored natively.
Everything else (objects, nested arrays, nulls, other names) goes into one JSON string property,
``_strata_json``, and reading merges it back, so any JSON object round-trips. Filters and Cypher
see the native properties.
"""

from __future__ import annotations

import json
import re
from typing import Any

import falkordb

from core.storage.ports import Edge, Node, NodeRef, Path

JSON_PROPERTY = "_strata_json"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _primitive(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def native(name: str, value: Any) -> bool:
    """Whether FalkorDB keeps this property as a property of its own."""
    if not NAME.fullmatch(name) or name == JSON_PROPERTY:
        return False
    return _primitive(value) or (isinstance(value, list) and all(_primitive(item) for item in value))


def encode(properties_text: str) -> dict[str, Any]:
    """The properties to ``SET n = $props`` from the port's JSON text."""
    properties = json.loads(properties_text)
    stored = {name: value for name, value in properties.items() if native(name, value)}
    rest = {name: value for name, value in properties.items() if name not in stored}
    if rest:
        stored[JSON_PROPERTY] = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
    return stored


def decode(stored: dict[str, Any]) -> dict[str, Any]:
    """The port's properties (without the node key) from what FalkorDB returned."""
    properties = {name: value for name, value in stored.items() if name not in ("key", JSON_PROPERTY)}
    if JSON_PROPERTY in stored:
        properties.update(json.loads(stored[JSON_PROPERTY]))
    return properties


def node(value: falkordb.Node) -> Node:
    key = value.properties.get("key")
    return Node(value.labels[0] if value.labels else "", "" if key is None else str(key), decode(value.properties))


def node_ids(value: Any) -> set[int]:
    """Ids of the endpoints of every edge inside a result value (to resolve them to refs)."""
    if isinstance(value, falkordb.Edge):
        return {value.src_node, value.dest_node}
    if isinstance(value, falkordb.Path):
        return {i for edge in value.edges() for i in node_ids(edge)}
    if isinstance(value, list):
        return {i for item in value for i in node_ids(item)}
    if isinstance(value, dict):
        return {i for item in value.values() for i in node_ids(item)}
    return set()


def neutral(value: Any, refs: dict[int, NodeRef]) -> Any:
    """A result value as the port's values: Node, Edge, Path, lists, dicts, scalars."""
    if isinstance(value, falkordb.Node):
        return node(value)
    if isinstance(value, falkordb.Edge):
        missing = NodeRef("", "")
        source, target = refs.get(value.src_node, missing), refs.get(value.dest_node, missing)
        return Edge(value.relation, source, target, decode(value.properties))
    if isinstance(value, falkordb.Path):
        return Path(nodes=[node(n) for n in value.nodes()], edges=[neutral(e, refs) for e in value.edges()])
    if isinstance(value, list):
        return [neutral(item, refs) for item in value]
    if isinstance(value, dict):
        return {key: neutral(item, refs) for key, item in value.items()}
    return value
