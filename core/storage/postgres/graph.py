"""GraphStore adapter on Apache AGE (one graph inside the project's PostgreSQL).

Data lives in AGE's own tables, so Cypher keeps working on it:

* a node label ``L`` is the vertex table ``"<graph>"."L"`` (``id graphid``, ``properties agtype``).
  The node's key is stored as its ``key`` property, unique per label through the expression index
  ``agtype_access_operator(VARIADIC ARRAY[properties, '"key"'])`` (used by ``WHERE n.key = $k``
  and by ``INSERT ... ON CONFLICT``); a GIN index on ``properties`` serves ``MATCH (n:L {key: $k})``.
  ``key`` is therefore a reserved property name: node properties named ``key`` are refused.
* an edge type ``T`` is the edge table ``"<graph>"."T"`` (``id, start_id, end_id, properties``)
  with a unique index on ``(start_id, end_id)``: one edge per type + source + target.

Writes are plain SQL on those tables (set-based for ``bulk_load``). Traversals are SQL over the
label tables (a recursive CTE, or one query per BFS level), never Cypher variable-length paths,
which are two to three orders of magnitude slower on AGE (see bench/graph_bench.py). Every method
runs on ``django.db.connections[using]``, so it joins the caller's ``transaction.atomic()``.

Values: node keys are 1-255 printable characters; properties are JSON objects (no NaN/Infinity,
no NUL characters, integers within 64 bits). ``cypher()`` results are converted from agtype
text: vertices and edges become dicts, paths lists of dicts, ``::numeric`` values floats.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections, transaction
from psycopg import sql

from core.locks import advisory_xact_lock
from core.storage import validation
from core.storage.ports import (
    BulkLoadResult,
    Direction,
    Edge,
    Hop,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    Node,
    NodeNotFound,
    NodeRef,
    Path,
    Subgraph,
    UnknownLabel,
)
from core.storage.postgres.graph_schema import validate_graph_name, validate_label

MAX_DEPTH = 10  # deepest k_hop / subgraph / shortest_path the adapter accepts
_MAX_LIMIT = 2**31 - 1
_DIRECTIONS = ("out", "in", "both")
_REVERSE = {"out": "in", "in": "out", "both": "both"}
_VERTEX, _EDGE = "v", "e"
_KIND_NAMES = {_VERTEX: "node label", _EDGE: "edge type"}
_CYPHER_TAG = "$strata_cypher$"
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_INT64 = (-(2**63), 2**63 - 1)
_REF_TYPES = (NodeRef, Node)  # a Node can stand for its NodeRef
# Fast JSON path: ASCII output. Escaped NUL, surrogates or 19+ digit numbers take the exact path.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_SUSPECT = re.compile(r"\\u(?:0000|d[89a-f])|\d{19}")
_BIG_NUMBER = re.compile(r"\d{19}")
# A JSON string (kept as is) or an agtype annotation outside strings (dropped).
_AGTYPE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|::(?:vertex|edge|path|numeric)\b')
_KEY = sql.SQL("""ag_catalog.agtype_access_operator(VARIADIC ARRAY[{}, '"key"'::ag_catalog.agtype])""")
_AGTYPE_PARAM = sql.SQL("%s::text::ag_catalog.agtype")
_TEMP_TABLES = "pg_temp.strata_graph_nodes, pg_temp.strata_graph_endpoints, pg_temp.strata_graph_edges"


# ---------------------------------------------------------------- values


def _check_int64(value: Any, what: str) -> None:
    """agtype integers are 64-bit: refuse bigger ones before the database does."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64[0] <= value <= _INT64[1]:
            raise MalformedDocument(f"{what}: integer {value} does not fit in 64 bits")
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_int64(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_int64(item, what)


def _properties_json(
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
            _check_int64(json.loads(text), what)
    return text


def parse_agtype(text: str | None) -> Any:
    """Python value of agtype text output: vertices/edges become dicts, paths lists, and the
    ``::vertex``/``::edge``/``::path``/``::numeric`` annotations are dropped (outside strings)."""
    if text is None:
        return None
    if "::" in text:
        text = _AGTYPE_TOKEN.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)
    return json.loads(text)


def _parse_many(texts: Sequence[str]) -> list[Any]:
    """Parse many agtype texts at once (one JSON parse instead of one per value)."""
    return parse_agtype("[" + ",".join(texts) + "]") if texts else []


def _node(label: str, properties: dict[str, Any]) -> Node:
    """A Node from stored properties (the ``key`` property becomes the node key)."""
    key = properties.pop("key", None)  # always a string unless the node was written by Cypher
    return Node(label, "" if key is None else str(key), properties)


def _index_name(table: str, suffix: str) -> str:
    """An index name that stays unique within the 63-byte identifier limit."""
    name = f"{table}_{suffix}"
    if len(name) <= 63:
        return name
    return f"{table[: 50 - len(suffix)]}_{hashlib.sha1(table.encode()).hexdigest()[:12]}_{suffix}"


# ---------------------------------------------------------------- arguments


def _check_key(key: str) -> str:
    return validation.record_key(key, what="node key")


def _check_ref(ref: NodeRef, what: str = "node") -> NodeRef:
    if not isinstance(ref, _REF_TYPES):
        raise InvalidInput(f"{what} must be a NodeRef, got {type(ref).__name__}")
    return NodeRef(validate_label(ref.label), _check_key(ref.key))


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise InvalidInput(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


def _check_limit(value: int | None) -> int | None:
    """None (no limit) or a positive integer."""
    return None if value is None else validation.bounded_int(value, what="limit", low=1, high=_MAX_LIMIT)


def _check_edge_types(edge_types: Sequence[str] | None) -> list[str] | None:
    if edge_types is None:
        return None
    if isinstance(edge_types, str | bytes) or not isinstance(edge_types, Iterable):
        raise InvalidInput("edge_types must be a list of edge type names, or None for all types")
    names = list(dict.fromkeys(validate_label(name) for name in edge_types))
    if not names:
        raise InvalidInput("edge_types must not be empty; pass None for all types")
    return names


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


class _Batch:
    """The validated, de-duplicated input of one ``bulk_load`` (a later duplicate wins).

    Edge endpoints are numbered (``endpoints``): each distinct one is validated and resolved once."""

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
            label, key = self._label(node.label), _check_key(node.key)
            self.nodes.setdefault(label, {})[key] = _properties_json(node.properties, node_key=key, limit=self._limit)

    def add_edges(self, edges: Iterable[Edge]) -> None:
        for edge in edges:
            if not isinstance(edge, Edge):
                raise InvalidInput(f"bulk_load edges must be Edge objects, got {type(edge).__name__}")
            key = (self._label(edge.type), self._endpoint(edge.source), self._endpoint(edge.target))
            self.edges[key] = _properties_json(edge.properties, limit=self._limit)

    def _endpoint(self, ref: NodeRef) -> int:
        """The number of an edge endpoint (validated the first time it is seen)."""
        if not isinstance(ref, _REF_TYPES):
            raise InvalidInput(f"edge endpoints must be NodeRefs, got {type(ref).__name__}")
        try:
            return self.endpoints[(ref.label, ref.key)]
        except (KeyError, TypeError):
            pair = (self._label(ref.label), _check_key(ref.key))
            return self.endpoints.setdefault(pair, len(self.endpoints))

    def _label(self, name: str) -> str:
        if not (isinstance(name, str) and name in self._labels):
            self._labels.add(validate_label(name))
        return name

    def vertex_labels(self) -> list[str]:
        return sorted(set(self.nodes) | {label for label, _ in self.endpoints})

    def edge_types(self) -> list[str]:
        return sorted({edge_type for edge_type, _, _ in self.edges})


# ---------------------------------------------------------------- the adapter


class AgeGraphStore:
    """GraphStore on the Apache AGE graph ``graph`` (default ``settings.STRATA_GRAPH_NAME``)."""

    def __init__(self, graph: str | None = None, using: str = "default") -> None:
        self.graph = validate_graph_name(graph if graph is not None else settings.STRATA_GRAPH_NAME)
        self.using = using

    def __repr__(self) -> str:
        return f"AgeGraphStore(graph={self.graph!r}, using={self.using!r})"

    # ------------------------------------------------------------ plumbing

    @property
    def _connection(self) -> Any:
        return connections[self.using]

    def _sql(self, query: sql.Composable) -> str:
        self._connection.ensure_connection()
        return query.as_string(self._connection.connection)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.graph, name)

    def _execute(self, query: sql.Composable, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection.cursor() as cursor:
            cursor.execute(self._sql(query), params)
            return cursor.fetchall() if cursor.description else []

    @staticmethod
    def _key_of(alias: str | None = None) -> sql.Composable:
        """The node key expression (matches the unique index when ``alias`` is None)."""
        return _KEY.format(sql.Identifier(alias, "properties") if alias else sql.Identifier("properties"))

    def _find(self, ref: NodeRef) -> sql.Composable:
        """``SELECT id`` of the node ``ref`` (one parameter: the JSON key); uses the key index."""
        return sql.SQL("SELECT id FROM {} WHERE {} = {}").format(self._table(ref.label), self._key_of(), _AGTYPE_PARAM)

    def _kinds(self, names: Iterable[str]) -> dict[str, str]:
        rows = self._execute(
            sql.SQL(
                "SELECT l.name::text, l.kind FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g "
                "ON g.graphid = l.graph WHERE g.name = %s AND l.name = ANY(%s::text[])"
            ),
            [self.graph, list(names)],
        )
        return dict(rows)

    def _require(self, vertices: Iterable[str] = (), edges: Iterable[str] = ()) -> None:
        """Raise UnknownLabel unless each name is a defined node label / edge type respectively."""
        wanted = [(name, _VERTEX) for name in vertices] + [(name, _EDGE) for name in edges]
        kinds = self._kinds({name for name, _ in wanted})
        for name, kind in wanted:
            if kinds.get(name) != kind:
                found = f" (it is a {_KIND_NAMES[kinds[name]]})" if name in kinds else ""
                define = "define_node_label" if kind == _VERTEX else "define_edge_type"
                raise UnknownLabel(
                    f"{_KIND_NAMES[kind]} {name!r} is not defined in graph {self.graph!r}{found}; "
                    f"call {define}({name!r}) first"
                )

    def _lock(self) -> None:
        """Serialise schema changes of this graph (transaction-scoped advisory lock)."""
        advisory_xact_lock(f"strata.graph:{self.graph}", using=self.using)

    # ------------------------------------------------------------ graph and schema

    def graph_exists(self) -> bool:
        return bool(self._execute(sql.SQL("SELECT 1 FROM ag_catalog.ag_graph WHERE name = %s"), [self.graph]))

    def ensure_graph(self) -> None:
        """Create the AGE graph if it does not exist (adapter-specific; not part of the port)."""
        if self.graph_exists():
            return
        with transaction.atomic(using=self.using):
            self._lock()
            if not self.graph_exists():
                self._execute(sql.SQL("SELECT ag_catalog.create_graph(%s)"), [self.graph])

    def drop_graph(self) -> None:
        """Drop the AGE graph and all its data (adapter-specific; not part of the port)."""
        with transaction.atomic(using=self.using):
            self._lock()
            if self.graph_exists():
                self._execute(sql.SQL("SELECT ag_catalog.drop_graph(%s, true)"), [self.graph])

    def _indexes(self, label: str, kind: str) -> dict[str, sql.Composable]:
        """Index name -> CREATE INDEX statement for a label's table."""
        table = self._table(label)
        if kind == _VERTEX:
            specs = {
                "key_uniq": sql.SQL("CREATE UNIQUE INDEX {name} ON {table} (({key}))"),
                "props_gin": sql.SQL("CREATE INDEX {name} ON {table} USING gin (properties)"),
            }
        else:
            specs = {"ends_uniq": sql.SQL("CREATE UNIQUE INDEX {name} ON {table} (start_id, end_id)")}
        statements = {}
        for suffix, spec in specs.items():
            name = _index_name(label, suffix)
            statements[name] = spec.format(name=sql.Identifier(name), table=table, key=self._key_of())
        return statements

    def _missing_indexes(self, label: str, kind: str) -> dict[str, sql.Composable] | None:
        """None when the label exists with this kind and all its indexes; else what is missing."""
        indexes = self._indexes(label, kind)
        if self._kinds([label]).get(label) != kind:
            return indexes
        rows = self._execute(
            sql.SQL(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = ANY(%s::text[])"
            ),
            [self.graph, list(indexes)],
        )
        missing = {name: statement for name, statement in indexes.items() if (name,) not in rows}
        return missing or None

    def _define(self, label: str, kind: str) -> None:
        """Create the label and its indexes unless they exist (idempotent, safe under concurrency)."""
        validate_label(label)
        if self._missing_indexes(label, kind) is None:
            return
        with transaction.atomic(using=self.using):
            self.ensure_graph()
            self._lock()
            existing = self._kinds([label]).get(label)
            if existing is not None and existing != kind:
                raise InvalidInput(f"{label!r} is already a {_KIND_NAMES[existing]} in graph {self.graph!r}")
            if existing is None:
                create = sql.Identifier("create_vlabel" if kind == _VERTEX else "create_elabel")
                self._execute(sql.SQL("SELECT ag_catalog.{}(%s, %s)").format(create), [self.graph, label])
            for statement in (self._missing_indexes(label, kind) or {}).values():
                self._execute(statement)

    def define_node_label(self, label: str) -> None:
        """Create the vertex label (and the graph if needed) with its unique key index and GIN index."""
        self._define(label, _VERTEX)

    def define_edge_type(self, edge_type: str) -> None:
        """Create the edge label (and the graph if needed) with its unique (start_id, end_id) index."""
        self._define(edge_type, _EDGE)

    def _labels(self, kind: str) -> list[str]:
        rows = self._execute(
            sql.SQL(
                "SELECT l.name::text FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g ON g.graphid = l.graph "
                "WHERE g.name = %s AND l.kind = %s AND l.name NOT LIKE '\\_ag\\_label\\_%%' "
                'ORDER BY l.name::text COLLATE "C"'
            ),
            [self.graph, kind],
        )
        return [name for (name,) in rows]

    def node_labels(self) -> list[str]:
        return self._labels(_VERTEX)

    def edge_types(self) -> list[str]:
        return self._labels(_EDGE)

    # ------------------------------------------------------------ single writes and reads

    def upsert_node(self, label: str, key: str, properties: Mapping[str, Any] | None = None) -> Node:
        validate_label(label)
        _check_key(key)
        text = _properties_json(properties, node_key=key)
        self._require([label])
        self._execute(
            sql.SQL(
                "INSERT INTO {} (properties) VALUES ({}) "
                "ON CONFLICT (({})) DO UPDATE SET properties = EXCLUDED.properties"
            ).format(self._table(label), _AGTYPE_PARAM, self._key_of()),
            [text],
        )
        return _node(label, json.loads(text))

    def _node_id(self, ref: NodeRef, what: str = "node") -> str:
        rows = self._execute(self._find(ref), [json.dumps(ref.key)])
        if not rows:
            raise NodeNotFound(f"{what} {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0][0]

    def upsert_edge(
        self, edge_type: str, source: NodeRef, target: NodeRef, properties: Mapping[str, Any] | None = None
    ) -> Edge:
        validate_label(edge_type)
        source, target = _check_ref(source, "source"), _check_ref(target, "target")
        text = _properties_json(properties)
        self._require([source.label, target.label], [edge_type])
        rows = self._execute(
            sql.SQL(
                "INSERT INTO {table} (start_id, end_id, properties) "
                "SELECT s.id, t.id, {props} FROM ({source}) s, ({target}) t "
                "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties RETURNING 1"
            ).format(
                table=self._table(edge_type),
                props=_AGTYPE_PARAM,
                source=self._find(source),
                target=self._find(target),
            ),
            [text, json.dumps(source.key), json.dumps(target.key)],
        )
        if not rows:  # nothing was written: say which end is missing
            self._node_id(source, "source node")
            self._node_id(target, "target node")
        return Edge(edge_type, source, target, json.loads(text))

    def get_node(self, ref: NodeRef) -> Node | None:
        ref = _check_ref(ref)
        self._require([ref.label])
        rows = self._execute(
            sql.SQL("SELECT properties::text FROM {} WHERE {} = {}").format(
                self._table(ref.label), self._key_of(), _AGTYPE_PARAM
            ),
            [json.dumps(ref.key)],
        )
        return _node(ref.label, parse_agtype(rows[0][0])) if rows else None

    def delete_node(self, ref: NodeRef) -> bool:
        """Delete the node and, in the same statement, every edge of any type touching it
        (``_ag_label_edge`` is the parent table of all edge tables)."""
        ref = _check_ref(ref)
        self._require([ref.label])
        rows = self._execute(
            sql.SQL(
                "WITH v AS ({find}), "
                "gone AS (DELETE FROM {edges} e USING v WHERE e.start_id = v.id OR e.end_id = v.id) "
                "DELETE FROM {table} n USING v WHERE n.id = v.id RETURNING 1"
            ).format(find=self._find(ref), edges=self._table("_ag_label_edge"), table=self._table(ref.label)),
            [json.dumps(ref.key)],
        )
        return bool(rows)

    def delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool:
        validate_label(edge_type)
        source, target = _check_ref(source, "source"), _check_ref(target, "target")
        self._require([source.label, target.label], [edge_type])
        rows = self._execute(
            sql.SQL(
                "DELETE FROM {table} e USING ({source}) s, ({target}) t "
                "WHERE e.start_id = s.id AND e.end_id = t.id RETURNING 1"
            ).format(table=self._table(edge_type), source=self._find(source), target=self._find(target)),
            [json.dumps(source.key), json.dumps(target.key)],
        )
        return bool(rows)

    # ------------------------------------------------------------ bulk load

    def bulk_load(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> BulkLoadResult:
        """Upsert many nodes, then many edges, set-based and all-or-nothing.

        Everything is validated first. Nodes are COPYed into a temporary table and upserted with
        one ``INSERT ... SELECT ... ON CONFLICT`` per label. The distinct edge endpoints are
        COPYed and resolved to vertex ids with one join per label; edges are COPYed with those
        ids and inserted with one ``INSERT ... SELECT ... ON CONFLICT (start_id, end_id)`` per type.
        A missing endpoint raises NodeNotFound and the savepoint undoes everything.
        """
        batch = _Batch()
        batch.add_nodes(nodes)
        batch.add_edges(edges)
        if not batch.nodes and not batch.edges:
            return BulkLoadResult(nodes=0, edges=0)
        self._require(batch.vertex_labels(), batch.edge_types())
        with transaction.atomic(using=self.using):
            # psycopg's COPY on Django's own connection: the same session and transaction
            with self._connection.connection.cursor() as cursor:
                self._load_nodes(cursor, batch)
                self._load_edges(cursor, batch)
                cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")
        return BulkLoadResult(nodes=sum(len(rows) for rows in batch.nodes.values()), edges=len(batch.edges))

    def _load_nodes(self, cursor: psycopg.Cursor, batch: _Batch) -> None:
        if not batch.nodes:
            return
        cursor.execute("CREATE TEMP TABLE strata_graph_nodes (label text, props text) ON COMMIT DROP")
        with cursor.copy("COPY strata_graph_nodes (label, props) FROM STDIN") as copy:
            for label, rows in batch.nodes.items():
                for text in rows.values():
                    copy.write_row((label, text))
        for label in batch.nodes:
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (properties) SELECT props::ag_catalog.agtype FROM strata_graph_nodes "
                    "WHERE label = %s ON CONFLICT (({})) DO UPDATE SET properties = EXCLUDED.properties"
                ).format(self._table(label), self._key_of()),
                [label],
            )

    def _load_edges(self, cursor: psycopg.Cursor, batch: _Batch) -> None:
        if not batch.edges:
            return
        ids = self._resolve_endpoints(cursor, batch)
        cursor.execute(
            "CREATE TEMP TABLE strata_graph_edges (etype text, src graphid, dst graphid, props text) ON COMMIT DROP"
        )
        with cursor.copy("COPY strata_graph_edges (etype, src, dst, props) FROM STDIN") as copy:
            for (edge_type, source, target), text in batch.edges.items():
                copy.write_row((edge_type, ids[source], ids[target], text))
        for edge_type in batch.edge_types():
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (start_id, end_id, properties) "
                    "SELECT src, dst, props::ag_catalog.agtype FROM strata_graph_edges WHERE etype = %s "
                    "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties"
                ).format(self._table(edge_type)),
                [edge_type],
            )

    def _resolve_endpoints(self, cursor: psycopg.Cursor, batch: _Batch) -> list[str | None]:
        """The vertex id (graphid text) of every numbered endpoint, found with one join per label
        on the key index; NodeNotFound (before anything is written) if any is missing."""
        cursor.execute("CREATE TEMP TABLE strata_graph_endpoints (no int, label text, key text) ON COMMIT DROP")
        with cursor.copy("COPY strata_graph_endpoints (no, label, key) FROM STDIN") as copy:
            for (label, key), number in batch.endpoints.items():
                copy.write_row((number, label, key))
        ids: list[str | None] = [None] * len(batch.endpoints)
        for label in sorted({label for label, _ in batch.endpoints}):
            cursor.execute(
                sql.SQL(
                    "SELECT p.no, v.id::text FROM strata_graph_endpoints p "
                    "JOIN {} v ON {} = to_json(p.key)::text::ag_catalog.agtype WHERE p.label = %s"
                ).format(self._table(label), self._key_of("v")),
                [label],
            )
            for number, graph_id in cursor:
                ids[number] = graph_id
        missing = sorted(ref for ref, number in batch.endpoints.items() if ids[number] is None)
        if missing:
            shown = ", ".join(f"{label}:{key!r}" for label, key in missing[:5])
            raise NodeNotFound(
                f"edge endpoints do not exist in graph {self.graph!r}: {shown}"
                f"{' and more' if len(missing) > 5 else ''}; nothing was written"
            )
        return ids

    # ------------------------------------------------------------ traversals

    def _steps(self, direction: str, edge_types: Sequence[str] | None) -> sql.Composable:
        """Rows ``(src, dst, eid)``, one per edge and walking direction, over the chosen edge
        tables (``_ag_label_edge``, the parent of every edge table, when no type is given)."""
        parts = []
        for name in edge_types or ["_ag_label_edge"]:
            table = self._table(name)
            if direction != "in":
                parts.append(sql.SQL("SELECT start_id AS src, end_id AS dst, id AS eid FROM {}").format(table))
            if direction != "out":
                parts.append(sql.SQL("SELECT end_id AS src, start_id AS dst, id AS eid FROM {}").format(table))
        return sql.SQL(" UNION ALL ").join(parts)

    def _traversal(
        self, ref: NodeRef, direction: str, edge_types: Sequence[str] | None
    ) -> tuple[NodeRef, list[str] | None]:
        """Validate a traversal's start, direction and edge types (UnknownLabel when undefined)."""
        ref = _check_ref(ref, "start node")
        _check_direction(direction)
        types = _check_edge_types(edge_types)
        self._require([ref.label], types or ())
        return ref, types

    def _fetch_nodes(
        self, rows: sql.Composable, params: Sequence[Any], *, limit: int | None
    ) -> list[tuple[int, Node, str]]:
        """(depth, node, graphid) for each row ``(id, depth)`` of ``rows``, ordered by
        (depth, label, key): in SQL when there is a limit, else in Python (cheaper)."""
        query = sql.SQL(
            "SELECT r.depth, l.name::text, v.properties::text, v.id::text FROM ({rows}) r "
            "JOIN {vertices} v ON v.id = r.id JOIN ag_catalog.ag_label l ON l.relation = v.tableoid"
        ).format(rows=rows, vertices=self._table("_ag_label_vertex"))
        if limit is not None:
            query += sql.SQL(' ORDER BY r.depth, l.name::text COLLATE "C", ({})::text COLLATE "C" LIMIT %s').format(
                self._key_of("v")
            )
            params = [*params, limit]
        found = self._execute(query, params)
        properties = _parse_many([props for _, _, props, _ in found])
        result = [(depth, _node(label, p), gid) for (depth, label, _, gid), p in zip(found, properties, strict=True)]
        if limit is None:
            result.sort(key=lambda row: (row[0], row[1].label, row[1].key))
        return result

    def _start_row(self, rows: list[tuple[int, Node, str]], ref: NodeRef) -> tuple[int, Node, str]:
        if not rows or rows[0][0] != 0:
            raise NodeNotFound(f"start node {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0]

    def neighbours(
        self,
        ref: NodeRef,
        *,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Node]:
        """Nodes one edge away (the start node itself only through a self-loop)."""
        _check_limit(limit)
        ref, types = self._traversal(ref, direction, edge_types)
        rows = sql.SQL(
            "WITH s AS ({find}) SELECT id, 0 AS depth FROM s "
            "UNION ALL SELECT DISTINCT x.dst, 1 FROM s JOIN ({steps}) x ON x.src = s.id"
        ).format(find=self._find(ref), steps=self._steps(direction, types))
        found = self._fetch_nodes(rows, [json.dumps(ref.key)], limit=None if limit is None else limit + 1)
        self._start_row(found, ref)
        return [node for _, node, _ in found[1:]]

    def _reach(
        self, ref: NodeRef, k: int, direction: str, types: Sequence[str] | None, limit: int | None
    ) -> list[tuple[int, Node, str]]:
        """The start node (depth 0), then up to ``limit`` nodes 1..k edges away with their minimum
        depth, as (depth, node, graphid). The recursive CTE's UNION drops repeated (node, depth)
        pairs, so a level never expands the same node twice; GROUP BY keeps each node's minimum."""
        walk = sql.SQL(
            "WITH RECURSIVE walk(id, depth) AS ("
            " SELECT id, 0 FROM ({find}) s"
            " UNION"
            " SELECT x.dst, w.depth + 1 FROM walk w JOIN ({steps}) x ON x.src = w.id WHERE w.depth < %s"
            ") SELECT id, min(depth) AS depth FROM walk GROUP BY id"
        ).format(find=self._find(ref), steps=self._steps(direction, types))
        found = self._fetch_nodes(walk, [json.dumps(ref.key), k], limit=None if limit is None else limit + 1)
        self._start_row(found, ref)
        return found

    def k_hop(
        self,
        ref: NodeRef,
        *,
        k: int,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Hop]:
        validation.bounded_int(k, what="k", low=1, high=MAX_DEPTH)
        _check_limit(limit)
        ref, types = self._traversal(ref, direction, edge_types)
        return [Hop(node, depth) for depth, node, _ in self._reach(ref, k, direction, types, limit)[1:]]

    def subgraph(
        self,
        ref: NodeRef,
        *,
        depth: int = 1,
        direction: Direction = "both",
        edge_types: Sequence[str] | None = None,
        limit: int = 500,
    ) -> Subgraph:
        """The start node first, then up to ``limit - 1`` nodes ordered by (depth, label, key), and
        every edge (of the allowed types, in any direction) between two of those nodes."""
        validation.bounded_int(depth, what="depth", low=1, high=MAX_DEPTH)
        validation.bounded_int(limit, what="limit", low=1, high=_MAX_LIMIT)
        ref, types = self._traversal(ref, direction, edge_types)
        found = self._reach(ref, depth, direction, types, limit - 1)
        nodes = {gid: node for _, node, gid in found}
        rows = self._execute(
            sql.SQL(
                "SELECT x.eid::text FROM ({steps}) x "
                "WHERE x.src = ANY(%s::text[]::graphid[]) AND x.dst = ANY(%s::text[]::graphid[])"
            ).format(steps=self._steps("out", types)),
            [list(nodes), list(nodes)],
        )
        edges = self._edges_by_id([eid for (eid,) in rows], nodes)
        ordered = sorted(
            edges.values(), key=lambda e: (e.type, e.source.label, e.source.key, e.target.label, e.target.key)
        )
        return Subgraph(nodes=list(nodes.values()), edges=ordered)

    def _nodes_by_id(self, ids: Sequence[str]) -> dict[str, Node]:
        rows = sql.SQL("SELECT unnest(%s::text[]::graphid[]) AS id, 0 AS depth")
        return {gid: node for _, node, gid in self._fetch_nodes(rows, [list(ids)], limit=None)}

    def _edges_by_id(self, ids: Sequence[str], nodes: Mapping[str, Node]) -> dict[str, Edge]:
        """Edges by graphid; ``nodes`` (graphid -> Node) must hold their endpoints."""
        rows = self._execute(
            sql.SQL(
                "SELECT e.id::text, l.name::text, e.start_id::text, e.end_id::text, e.properties::text "
                "FROM {edges} e JOIN ag_catalog.ag_label l ON l.relation = e.tableoid "
                "WHERE e.id = ANY(%s::text[]::graphid[])"
            ).format(edges=self._table("_ag_label_edge")),
            [list(ids)],
        )
        properties = _parse_many([props for *_, props in rows])
        return {
            eid: Edge(edge_type, nodes[start].ref, nodes[end].ref, props)
            for (eid, edge_type, start, end, _), props in zip(rows, properties, strict=True)
        }

    def shortest_path(
        self,
        source: NodeRef,
        target: NodeRef,
        *,
        max_depth: int = 6,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
    ) -> Path | None:
        """A shortest path of at most ``max_depth`` edges (edges keep their real direction)."""
        validation.bounded_int(max_depth, what="max_depth", low=1, high=MAX_DEPTH)
        source, types = self._traversal(source, direction, edge_types)
        target = _check_ref(target, "target node")
        self._require([target.label])
        start, end = self._node_id(source, "source node"), self._node_id(target, "target node")
        search = _BidirectionalSearch(
            lambda frontier, forward: self._expand(
                self._steps(direction if forward else _REVERSE[direction], types), frontier
            )
        )
        found = search.run(start, end, max_depth)
        if found is None:
            return None
        node_ids, edge_ids = found
        nodes = self._nodes_by_id(node_ids)
        edges = self._edges_by_id(edge_ids, nodes)
        return Path(nodes=[nodes[i] for i in node_ids], edges=[edges[i] for i in edge_ids])

    def _expand(self, steps: sql.Composable, frontier: Sequence[str]) -> list[tuple[str, str, str]]:
        """(src, dst, edge id) of every step leaving the frontier, in a stable order."""
        return self._execute(
            sql.SQL(
                "SELECT x.src::text, x.dst::text, x.eid::text FROM ({steps}) x "
                "WHERE x.src = ANY(%s::text[]::graphid[]) ORDER BY x.src, x.dst, x.eid"
            ).format(steps=steps),
            [list(frontier)],
        )

    # ------------------------------------------------------------ cypher

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
        arguments = [_properties_json(params, what="cypher params")]
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


class _BidirectionalSearch:
    """Shortest path between two graphids: breadth-first from both ends, one level at a time from
    the side with the smaller frontier. ``expand(frontier, forward)`` returns (src, dst, edge id)
    steps; a side's ``parents`` maps each visited node to (previous node, edge id, depth)."""

    def __init__(self, expand: Any) -> None:
        self.expand = expand

    def run(self, start: str, end: str, max_depth: int) -> tuple[list[str], list[str]] | None:
        if start == end:
            return [start], []
        sides = [
            {"parents": {start: None}, "frontier": [start], "depth": 0, "forward": True},
            {"parents": {end: None}, "frontier": [end], "depth": 0, "forward": False},
        ]
        while all(side["frontier"] for side in sides) and sides[0]["depth"] + sides[1]["depth"] < max_depth:
            side, other = sorted(sides, key=lambda s: len(s["frontier"]))
            meeting = self._step(side, other)
            if meeting is not None:
                return self._path(sides, meeting)
        return None

    def _step(self, side: dict[str, Any], other: dict[str, Any]) -> str | None:
        """Expand one level of ``side``; the new node closest to the other side's root, if they met."""
        side["depth"] += 1
        parents, frontier = side["parents"], []
        for src, dst, edge_id in self.expand(side["frontier"], side["forward"]):
            if dst not in parents:
                parents[dst] = (src, edge_id, side["depth"])
                frontier.append(dst)
        side["frontier"] = frontier
        meetings = [node for node in frontier if node in other["parents"]]
        if not meetings:
            return None
        return min(meetings, key=lambda node: (other["parents"][node] or (None, None, 0))[2])

    @staticmethod
    def _chain(parents: Mapping[str, Any], node: str) -> tuple[list[str], list[str]]:
        """Nodes and edges from ``node`` back to the side's root."""
        nodes, edges = [node], []
        while parents[node] is not None:
            node, edge_id, _ = parents[node]
            nodes.append(node)
            edges.append(edge_id)
        return nodes, edges

    def _path(self, sides: list[dict[str, Any]], meeting: str) -> tuple[list[str], list[str]]:
        head_nodes, head_edges = self._chain(sides[0]["parents"], meeting)
        tail_nodes, tail_edges = self._chain(sides[1]["parents"], meeting)
        return head_nodes[::-1] + tail_nodes[1:], head_edges[::-1] + tail_edges
