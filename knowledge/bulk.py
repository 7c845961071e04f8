"""Set-based writes of many entities and relations at once (graph_import): rows COPYed into a
temporary table, then one ``INSERT ... SELECT ... ON CONFLICT`` each, on Django's connection and
inside the caller's transaction. Every value travels as COPY data, never in the SQL text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from django.db import connection

_RELATION_COLUMNS = (
    "workspace_id, label, source_entity_id, source_document_id, target_entity_id, target_document_id, "
    "properties, weight, provenance, document_id, created_at"
)


def _cursor() -> Any:
    connection.ensure_connection()
    return connection.connection.cursor()


def upsert_entities(
    workspace_id: int, rows: Sequence[tuple[str, str, str, int, list[str], list[str], dict[str, Any]]], origin: str
) -> dict[str, int]:
    """Insert or update entities given as (key, name, normalized, type id, aliases, normalized
    aliases, properties); key -> id of each (a merged entity's key -> the entity it was merged into)."""
    if not rows:
        return {}
    with connection.wrap_database_errors, _cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE knowledge_bulk_entities (key text, name text, normalized text, type_id bigint, "
            "aliases text[], normalized_aliases text[], properties jsonb) ON COMMIT DROP"
        )
        with cursor.copy("COPY knowledge_bulk_entities FROM STDIN") as copy:
            for key, name, normalized, type_id, aliases, norm_aliases, props in rows:
                copy.write_row((key, name, normalized, type_id, aliases, norm_aliases, json.dumps(props)))
        cursor.execute(
            "INSERT INTO knowledge_entity (workspace_id, key, name, normalized, type_id, aliases, normalized_aliases, "
            "properties, origin, created_at, updated_at) "
            "SELECT %s, key, name, normalized, type_id, aliases, normalized_aliases, properties, %s, now(), now() "
            "FROM knowledge_bulk_entities "
            "ON CONFLICT (workspace_id, key) DO UPDATE SET name = EXCLUDED.name, normalized = EXCLUDED.normalized, "
            "type_id = EXCLUDED.type_id, aliases = EXCLUDED.aliases, normalized_aliases = EXCLUDED.normalized_aliases, "
            "properties = knowledge_entity.properties || EXCLUDED.properties, updated_at = now() "
            "RETURNING key, coalesce(merged_into_id, id)",
            [int(workspace_id), origin],
        )
        found = dict(cursor.fetchall())
        cursor.execute("DROP TABLE knowledge_bulk_entities")
    return found


def ensure_entities(
    workspace_id: int, keys: Sequence[tuple[str, str]], type_id: int, origin: str
) -> tuple[dict[str, int], list[str]]:
    """The ids of entities by (key, normalized key), creating bare ones (name = key) for keys
    that do not exist; returns key -> id (a merged entity's key -> the entity it was merged
    into) and the keys created."""
    if not keys:
        return {}, []
    workspace_id = int(workspace_id)
    with connection.wrap_database_errors, _cursor() as cursor:
        cursor.execute(
            "WITH wanted AS (SELECT unnest(%s::text[]) AS key, unnest(%s::text[]) AS normalized), "
            "added AS (INSERT INTO knowledge_entity (workspace_id, key, name, normalized, type_id, aliases, "
            "normalized_aliases, properties, origin, created_at, updated_at) "
            "SELECT %s, w.key, w.key, w.normalized, %s, '{}', '{}', '{}'::jsonb, %s, now(), now() FROM wanted w "
            "ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key, id) "
            "SELECT key, id, true FROM added UNION ALL "
            "SELECT e.key, coalesce(e.merged_into_id, e.id), false "
            "FROM knowledge_entity e JOIN wanted w ON w.key = e.key WHERE e.workspace_id = %s",
            [[k for k, _ in keys], [n for _, n in keys], workspace_id, int(type_id), origin, workspace_id],
        )
        ids, new = {}, []
        for key, pk, added in cursor.fetchall():
            ids[key] = pk
            if added:
                new.append(key)
    return ids, new


def upsert_relations(
    workspace_id: int,
    rows: Iterable[tuple[str, tuple[str, int], tuple[str, int], float, dict[str, Any]]],
    provenance: str,
) -> int:
    """Insert relation rows (label, source, target, weight, properties) of one document-less
    provenance; a row that exists gets the new weight and properties."""
    count = 0
    with connection.wrap_database_errors, _cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE knowledge_bulk_relations (label text, se bigint, sd bigint, te bigint, td bigint, "
            "weight float8, properties jsonb) ON COMMIT DROP"
        )
        with cursor.copy("COPY knowledge_bulk_relations FROM STDIN") as copy:
            for label, (sk, sv), (tk, tv), weight, props in rows:
                copy.write_row(
                    (
                        label,
                        sv if sk == "e" else None,
                        sv if sk == "d" else None,
                        tv if tk == "e" else None,
                        tv if tk == "d" else None,
                        weight,
                        orjson.dumps(props).decode() if props else "{}",
                    )
                )
                count += 1
        cursor.execute(
            f"INSERT INTO knowledge_relation ({_RELATION_COLUMNS}) "  # noqa: S608 (constant column list)
            "SELECT %s, label, se, sd, te, td, properties, weight, %s, NULL, now() FROM knowledge_bulk_relations "
            "ON CONFLICT ON CONSTRAINT knowledge_relation_unique DO UPDATE "
            "SET weight = EXCLUDED.weight, properties = EXCLUDED.properties",
            [int(workspace_id), provenance],
        )
        cursor.execute("DROP TABLE knowledge_bulk_relations")
    return count
