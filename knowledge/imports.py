"""Graph import and export in JSON Lines (``manage.py graph_import`` / ``graph_export``).

Each line is one object::

    {"kind": "node", "key": "requests", "label": "Package", "properties": {"name": "requests", "aliases": []}}
    {"kind": "edge", "source": "requests", "target": "urllib3", "label": "DEPENDS_ON", "properties": {"weight": 2}}

A node is an entity of the workspace (``key`` its key, ``label`` its type, lower-cased; ``name``
and ``aliases`` in the properties, the rest kept as its properties). A key ``doc:<external_id>``
names that document of the workspace (it must exist). An edge to a key no node line names (yet)
creates a bare entity with that key, which a later node line fills in, so the file is read once,
in order, a batch at a time (never held in memory). Duplicates merge: a node repeated updates the
entity; an edge repeated (in the file, or already imported) updates its one relation row
(provenance ``import``). Every bad line is reported as ``file:line: message`` and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from django.conf import settings
from django.db import transaction

from content import selectors as content
from core.services import audit_record
from core.storage import write_stores
from knowledge import bulk, stores, writes
from knowledge.entities import lock_workspace, types_by_name
from knowledge.models import Entity, Relation
from knowledge.normalize import normalize_name

PROVENANCE = "import"
BATCH_LINES = 5000
MAX_LINE_BYTES = 1024 * 1024
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")
_EDGE_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
RESERVED_LABELS = frozenset({stores.ENTITY_LABEL, stores.DOCUMENT_LABEL, "Document"})


class LineError(ValueError):
    pass


@dataclass
class NodeLine:
    key: str
    type: str
    name: str
    aliases: list[str]
    properties: dict[str, Any]


@dataclass
class EdgeLine:
    source: str
    target: str
    label: str
    weight: float
    properties: dict[str, Any]
    line: int = 0


@dataclass
class ImportReport:
    nodes: int = 0
    edges: int = 0
    lines: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)


def _key(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not value.isprintable():
        raise LineError(f"{what} must be a string of 1-200 printable characters")
    if value.startswith(stores.DOCUMENT_PREFIX) and len(value) == len(stores.DOCUMENT_PREFIX):
        raise LineError(f"{what} 'doc:' needs an external id after it")
    return value


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LineError("properties must be a JSON object")
    if value and len(orjson.dumps(value)) > settings.STRATA_MAX_METADATA_BYTES:
        raise LineError(f"properties are larger than {settings.STRATA_MAX_METADATA_BYTES} bytes")
    if any(not isinstance(k, str) or k == "key" or k.startswith("_strata") for k in value):
        raise LineError("property names 'key' and '_strata...' are reserved")
    return value


def parse_line(raw: bytes) -> NodeLine | EdgeLine | None:
    """One line of the import format (None for a blank line); LineError says what is wrong."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes")
    if not raw.strip():
        return None
    if b"\x00" in raw or b"\\u0000" in raw:
        raise LineError("NUL characters are not allowed")
    try:
        item = orjson.loads(raw)  # orjson: linear time, UTF-8 checked, nesting capped at 1024
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LineError("not UTF-8 text") from None
        raise LineError(f"invalid JSON: {str(exc)[:200]}") from None
    if not isinstance(item, dict):
        raise LineError('each line must be a JSON object with "kind": "node" or "edge"')
    kind = item.get("kind")
    props = _properties(item.get("properties"))
    if kind == "node":
        key = _key(item.get("key"), "key")
        label = item.get("label", "concept")
        if not isinstance(label, str) or not _TYPE.fullmatch(label):
            raise LineError("label must be a letter then up to 49 letters, digits, - or _")
        if key.startswith(stores.DOCUMENT_PREFIX):
            return NodeLine(key, "document", key, [], {})
        name = props.get("name", key)
        aliases = props.get("aliases", [])
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise LineError("properties.name must be a non-empty string of at most 255 characters")
        if not isinstance(aliases, list) or not all(isinstance(a, str) and 0 < len(a) <= 255 for a in aliases):
            raise LineError("properties.aliases must be a list of strings")
        rest = {k: v for k, v in props.items() if k not in ("name", "aliases")}
        return NodeLine(key, label.lower(), name.strip(), aliases[:100], rest)
    if kind == "edge":
        source, target = _key(item.get("source"), "source"), _key(item.get("target"), "target")
        label = item.get("label")
        if not isinstance(label, str) or not _EDGE_LABEL.fullmatch(label) or label in RESERVED_LABELS:
            raise LineError("label must be a letter then up to 62 letters, digits or _ (not Entity or DocumentRef)")
        if target.startswith(stores.DOCUMENT_PREFIX) and source.startswith(stores.DOCUMENT_PREFIX):
            raise LineError("an edge needs an entity at one end at least")
        props = dict(props)
        weight = props.pop("weight", item.get("weight", 1.0))
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not -1e12 < weight < 1e12:
            raise LineError("weight must be a number")
        for reserved in ("provenance", "workspace_id"):
            props.pop(reserved, None)
        return EdgeLine(source, target, label, float(weight), props)
    raise LineError('"kind" must be "node" or "edge"')


def read_lines(stream: IO[bytes], name: str, report: ImportReport) -> Iterator[tuple[int, NodeLine | EdgeLine]]:
    """(line number, parsed line) of the valid lines; bad lines go to ``report.errors``."""
    for number, raw in enumerate(stream, start=1):
        report.lines = number
        try:
            parsed = parse_line(raw.rstrip(b"\r\n"))
        except LineError as exc:
            report.errors.append(f"{name}:{number}: {exc}")
            continue
        if parsed is not None:
            if isinstance(parsed, EdgeLine):
                parsed.line = number
            yield number, parsed


def graph_import(
    *,
    stream: IO[bytes],
    name: str,
    workspace_id: int,
    actor: Any = None,
    progress: Callable[[int], None] | None = None,
    batch_lines: int = BATCH_LINES,
) -> ImportReport:
    """Import a JSON Lines file into the workspace's knowledge graph, ``batch_lines`` lines per
    transaction (rows and the graph-changed event; the graph follows by projection)."""
    report = ImportReport()
    batch: list[tuple[int, NodeLine | EdgeLine]] = []
    position = 0
    for number, parsed in read_lines(stream, name, report):
        batch.append((number, parsed))
        if len(batch) >= batch_lines:
            _flush(workspace_id, name, batch, report)
            batch = []
        if progress is not None:
            now = stream.tell() if stream.seekable() else number
            progress(now - position)
            position = now
    if batch:
        _flush(workspace_id, name, batch, report)
    if progress is not None and stream.seekable():
        progress(stream.tell() - position)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="knowledge.graph.import",
            object_type="knowledge.Relation",
            object_id=name[:255],
            workspace_id=workspace_id,
            changes={"nodes": report.nodes, "edges": report.edges, "failed": report.failed},
        )
    return report


def _define_labels(labels: Iterable[str]) -> None:
    """Edge types are created before the batch's transaction (creating one is DDL)."""
    for _, store in write_stores(stores.APP, "graph"):
        known = set(store.edge_types())  # type: ignore[attr-defined]
        for label in sorted(set(labels) - known):
            store.define_edge_type(label)  # type: ignore[attr-defined]


def _flush(workspace_id: int, name: str, batch: list[tuple[int, NodeLine | EdgeLine]], report: ImportReport) -> None:
    nodes: dict[str, NodeLine] = {}
    edges: list[EdgeLine] = []
    documents: set[str] = set()
    for _, item in batch:
        if isinstance(item, NodeLine):
            if item.type == "document":
                documents.add(item.key[len(stores.DOCUMENT_PREFIX) :])
                continue
            before = nodes.get(item.key)
            if before is not None:  # a repeated node: later values win, properties merge
                item = NodeLine(
                    item.key,
                    item.type,
                    item.name,
                    item.aliases or before.aliases,
                    {**before.properties, **item.properties},
                )
            nodes[item.key] = item
        else:
            edges.append(item)
            for key in (item.source, item.target):
                if key.startswith(stores.DOCUMENT_PREFIX):
                    documents.add(key[len(stores.DOCUMENT_PREFIX) :])
    doc_ids = content.document_ids_by_external_id(workspace_id=workspace_id, external_ids=documents)
    for number, item in batch:
        if isinstance(item, NodeLine) and item.type == "document" and item.key[4:] not in doc_ids:
            report.errors.append(f"{name}:{number}: no document with external id {item.key[4:]!r} in this workspace")
    _define_labels({e.label for e in edges})
    with transaction.atomic():
        lock_workspace(workspace_id)
        types = types_by_name(workspace_id, {n.type for n in nodes.values()} | {"concept"})
        entity_rows = [
            (
                n.key,
                n.name,
                normalize_name(n.name),
                types[n.type].pk,
                n.aliases,
                [normalize_name(a) for a in n.aliases],
                n.properties,
            )
            for n in nodes.values()
        ]
        ids = bulk.upsert_entities(workspace_id, entity_rows, PROVENANCE)
        ends = {k for e in edges for k in (e.source, e.target) if not k.startswith(stores.DOCUMENT_PREFIX)}
        bare = [(k, normalize_name(k)) for k in sorted(ends - set(ids))]
        found, new = bulk.ensure_entities(workspace_id, bare, types["concept"].pk, PROVENANCE)
        ids.update(found)
        rows: dict[writes.Triple, tuple] = {}
        for edge in edges:
            pair = []
            for key in (edge.source, edge.target):
                if key.startswith(stores.DOCUMENT_PREFIX):
                    doc = doc_ids.get(key[len(stores.DOCUMENT_PREFIX) :])
                    pair.append(("d", doc) if doc is not None else None)
                else:
                    pair.append(("e", ids[key]))
            if None in pair:
                missing = edge.source if pair[0] is None else edge.target
                report.errors.append(
                    f"{name}:{edge.line}: no document with external id {missing[4:]!r} in this workspace"
                )
                continue
            triple = (edge.label, pair[0], pair[1])
            before = rows.get(triple)
            props = {**before[4], **edge.properties} if before else edge.properties
            rows[triple] = (edge.label, pair[0], pair[1], edge.weight, props)  # a repeat: the later one wins
        bulk.upsert_relations(workspace_id, rows.values(), PROVENANCE)
        changed = [(ids[k], k) for k in [*nodes, *new] if k in ids]
        writes.publish_graph_change(workspace_id=workspace_id, triples=rows.keys(), gone_entities=changed)
    report.nodes += len(nodes)
    report.edges += len(rows)


# ---------------------------------------------------------------- export


def graph_export(*, workspace_id: int, out: IO[str], batch: int = 5000) -> tuple[int, int]:
    """Write the workspace's entities and relations (one edge per label, source and target:
    weights summed, properties merged) in the import format; (nodes, edges) written."""
    nodes = edges = 0
    keys: dict[int, str] = {}
    rows = (
        Entity.objects.filter(workspace_id=workspace_id, merged_into=None)
        .order_by("id")
        .values_list("id", "key", "name", "type__name", "aliases", "properties")
    )
    for pk, key, name, type_name, aliases, properties in rows.iterator(chunk_size=batch):
        keys[pk] = key
        props = {**(properties or {}), "name": name}
        if aliases:
            props["aliases"] = aliases
        out.write(json.dumps({"kind": "node", "key": key, "label": type_name, "properties": props}) + "\n")
        nodes += 1
    doc_ids = set(
        Relation.objects.filter(workspace_id=workspace_id, source_document_id__isnull=False).values_list(
            "source_document_id", flat=True
        )
    ) | set(
        Relation.objects.filter(workspace_id=workspace_id, target_document_id__isnull=False).values_list(
            "target_document_id", flat=True
        )
    )
    labels = content.document_labels(workspace_id=workspace_id, document_ids=doc_ids) if doc_ids else {}
    doc_names = {doc_id: labels[doc_id][0] if doc_id in labels else "" for doc_id in doc_ids}
    relations = Relation.objects.filter(workspace_id=workspace_id).order_by(
        "label", "source_entity_id", "source_document_id", "target_entity_id", "target_document_id", "id"
    )
    current: tuple | None = None
    weight, props = 0.0, {}

    def end_key(entity_id: int | None, document_id: int | None) -> str | None:
        if entity_id is not None:
            return keys.get(entity_id)
        name = doc_names.get(document_id, "")
        return f"{stores.DOCUMENT_PREFIX}{name}" if name else None

    def emit() -> int:
        label, se, sd, te, td = current  # type: ignore[misc]
        source, target = end_key(se, sd), end_key(te, td)
        if source is None or target is None:
            return 0
        line = {
            "kind": "edge",
            "source": source,
            "target": target,
            "label": label,
            "properties": {**props, "weight": weight},
        }
        out.write(json.dumps(line) + "\n")
        return 1

    for r in relations.values_list(
        "label",
        "source_entity_id",
        "source_document_id",
        "target_entity_id",
        "target_document_id",
        "weight",
        "properties",
    ).iterator(chunk_size=batch):
        identity = r[:5]
        if identity != current:
            if current is not None:
                edges += emit()
            current, weight, props = identity, 0.0, {}
        weight += r[5]
        props.update(r[6] or {})
    if current is not None:
        edges += emit()
    return nodes, edges
