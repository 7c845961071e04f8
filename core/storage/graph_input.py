"""Input checks of the GraphStore port: labels, keys, references, properties, traversal
arguments and bulk-load batches. They raise the port's errors; the port's public methods run
them, so every adapter gets the same checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings

from core.storage import validation
from core.storage.ports.errors import InvalidInput, InvalidName, MalformedDocument
from core.storage.ports.types import Edge, Node, NodeRef

MAX_LIMIT = 2**31 - 1
DIRECTIONS = ("out", "in", "both")
REF_TYPES = (NodeRef, Node)  # a Node can stand for its NodeRef
RESERVED_PREFIX = "_strata"  # property names adapters may use for their own bookkeeping
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_INT64 = (-(2**63), 2**63 - 1)
# Fast JSON path: ASCII output. Escaped NUL, surrogates or 19+ digit numbers take the exact path.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_SUSPECT = re.compile(r"\\u(?:0000|d[89a-f])|\d{19}")
_BIG_NUMBER = re.compile(r"\d{19}")


def validate_label(label: Any) -> str:
    """A node label or edge type: a letter then up to 62 letters, digits or _ (not ``_ag_...``)."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidName(f"invalid label {label!r}: use a letter then up to 62 letters, digits or _")
    return label


def check_int64(value: Any, what: str) -> None:
    """Graph integers are 64-bit: refuse bigger ones before the store does."""
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
    """Validated properties as compact JSON text; a node's key is added as ``key``.

    ``key`` and names starting with ``_strata`` are reserved. The common case is one
    ``JSONEncoder.encode`` call; anything unusual (not encodable, large, escaped NUL or
    surrogates, huge integers) goes through ``validation.json_object_text``, which raises the
    port's errors. ``limit`` is the size limit in bytes (STRATA_MAX_METADATA_BYTES)."""
    if properties is None:
        properties = {}
    if not isinstance(properties, dict) and not isinstance(properties, Mapping):
        raise MalformedDocument(f"{what} must be a mapping, got {type(properties).__name__}")
    if node_key is not None:
        if "key" in properties:
            raise InvalidInput("the node property 'key' is reserved for the node key; rename the property")
        properties = {**properties, "key": node_key}
    if any(isinstance(name, str) and name.startswith(RESERVED_PREFIX) for name in properties):
        raise InvalidInput(f"property names starting with {RESERVED_PREFIX!r} are reserved for the stores")
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


def check_key(key: Any) -> str:
    return validation.record_key(key, what="node key")


def check_ref(ref: Any, what: str = "node") -> NodeRef:
    if not isinstance(ref, REF_TYPES):
        raise InvalidInput(f"{what} must be a NodeRef, got {type(ref).__name__}")
    return NodeRef(validate_label(ref.label), check_key(ref.key))


def check_direction(direction: Any) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return direction


def check_limit(value: Any) -> int | None:
    """None (no limit) or a positive integer."""
    return None if value is None else validation.bounded_int(value, what="limit", low=1, high=MAX_LIMIT)


def check_flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be True or False, got {value!r}")
    return value


def check_edge_types(edge_types: Any) -> list[str] | None:
    if edge_types is None:
        return None
    if isinstance(edge_types, str | bytes) or not isinstance(edge_types, Iterable):
        raise InvalidInput("edge_types must be a list of edge type names, or None for all types")
    names = list(dict.fromkeys(validate_label(name) for name in edge_types))
    if not names:
        raise InvalidInput("edge_types must not be empty; pass None for all types")
    return names


def check_node_labels(labels: Any, what: str) -> list[str] | None:
    """None (every label) or a list of node label names (may be empty: no label)."""
    if labels is None:
        return None
    if isinstance(labels, str | bytes) or not isinstance(labels, Iterable):
        raise InvalidInput(f"{what} must be a list of node label names, or None for all labels")
    return list(dict.fromkeys(validate_label(name) for name in labels))


def check_cypher(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("the cypher query must be a non-empty string")
    if "\x00" in query:
        raise InvalidInput("the cypher query may not contain NUL characters")
    return query


def check_columns(columns: Any) -> list[str]:
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence) or not columns:
        raise InvalidInput("columns must be a non-empty list of names")
    for column in columns:
        if not isinstance(column, str) or not _COLUMN.fullmatch(column):
            raise InvalidName(f"invalid column name {column!r}: use a letter or _ then letters, digits or _")
    if len(set(columns)) != len(columns):
        raise InvalidInput(f"column names must be distinct, got {list(columns)}")
    return list(columns)


class Batch:
    """The validated, de-duplicated input of one ``bulk_load`` (a later duplicate wins).

    Edge endpoints are numbered (``endpoints``): each distinct one is validated once."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, str]] = {}  # label -> key -> properties JSON (with the key)
        self.endpoints: dict[tuple[str, str], int] = {}  # (label, key) -> number
        self.edges: dict[tuple[str, int, int], str] = {}  # (type, source no., target no.) -> properties JSON
        self._labels: set[str] = set()  # names already validated
        self._limit = settings.STRATA_MAX_METADATA_BYTES

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            if not isinstance(node, Node):
                raise InvalidInput(f"bulk_load nodes must be Node objects, got {type(node).__name__}")
            label, key = self._label(node.label), check_key(node.key)
            self.nodes.setdefault(label, {})[key] = properties_json(node.properties, node_key=key, limit=self._limit)

    def add_edges(self, edges: Iterable[Edge]) -> None:
        for edge in edges:
            if not isinstance(edge, Edge):
                raise InvalidInput(f"bulk_load edges must be Edge objects, got {type(edge).__name__}")
            key = (self._label(edge.type), self._endpoint(edge.source), self._endpoint(edge.target))
            self.edges[key] = properties_json(edge.properties, limit=self._limit)

    def _endpoint(self, ref: NodeRef) -> int:
        """The number of an edge endpoint (validated the first time it is seen)."""
        if not isinstance(ref, REF_TYPES):
            raise InvalidInput(f"edge endpoints must be NodeRefs, got {type(ref).__name__}")
        try:
            return self.endpoints[(ref.label, ref.key)]
        except (KeyError, TypeError):
            pair = (self._label(ref.label), check_key(ref.key))
            return self.endpoints.setdefault(pair, len(self.endpoints))

    def _label(self, name: str) -> str:
        if not (isinstance(name, str) and name in self._labels):
            self._labels.add(validate_label(name))
        return name

    def vertex_labels(self) -> list[str]:
        return sorted(set(self.nodes) | {label for label, _ in self.endpoints})

    def edge_types(self) -> list[str]:
        return sorted({edge_type for edge_type, _, _ in self.edges})

    def endpoint_refs(self) -> list[NodeRef]:
        """The endpoints by number."""
        refs: list[NodeRef] = [NodeRef("", "")] * len(self.endpoints)
        for (label, key), number in self.endpoints.items():
            refs[number] = NodeRef(label, key)
        return refs
