"""graph_import's set-based path: each batch of raw lines is COPYed into a temporary table and
parsed, checked, merged and upserted by SQL on Django's connection (knowledge/imports.py drives it).

* **Staging.** The lines travel byte-exact as COPY text data (backslash, tab and carriage return
  escaped; one line, one row; the row's identity is its position in the batch). Lines PostgreSQL
  should not see unchecked (not ASCII, a ``\\u`` escape, NUL, a number orjson may refuse, longer
  than ``SQL_LINE_BYTES``) are checked in Python first by ``parse_line`` (a bad one is staged
  blank and reported from there), so the SQL checks below only ever meet ASCII text whose JSON
  strings are ASCII too.
* **Parsing.** ``PARSE`` casts each line to jsonb (``PARSE_GUARDED``, when a line is not JSON,
  tests each with ``pg_input_is_valid`` first, so a bad line never aborts the batch) and applies
  parse_line's checks in the same order with the same messages; a line that is not JSON is marked
  ``json`` and its message (orjson's) is computed in Python.
* **Ends, before the transaction.** ``ENDS`` looks the edges' entity ends up among the stored
  entities; a batch of edges whose ends were all found merges its triples (``TRIPLES``) too.
  Both only read: in the transaction ``VALIDATE_ENDS`` checks each found end by primary key
  (gone, merged or re-keyed since: looked up again) and the triples are merged again if any end
  changed.
* **Merging and upserts** in the batch's transaction: repeated nodes and edges merge as before
  (later values win, properties merge in line order, later non-empty aliases win), entities and
  relations are written with one ``INSERT ... SELECT ... ON CONFLICT`` each, and a relation whose
  weight and properties did not change is not written again (re-importing writes no rows). The
  rows written are kept (``strata_import_written``), so the event names them by id ranges.

Every value travels as COPY data or a bound parameter; the SQL text is constant.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from knowledge import graph_sql

# lines up to this many bytes (ASCII, no \u escape) are checked by SQL alone; a longer one cannot
# nest deeper than jsonb's stack allows or carry properties past the size limit unchecked
SQL_LINE_BYTES = 1000
NON_ASCII = r"[^\x01-\x7f]"

TABLES = (
    "CREATE TEMP TABLE strata_import_lines (n int GENERATED ALWAYS AS IDENTITY, raw text)",
    "CREATE TEMP TABLE strata_import_items (n int, kind text, err text, key text, type text, name text, "
    "aliases text[], props jsonb, source text, target text, label text, weight float8)",
    "CREATE TEMP TABLE strata_import_text (value text PRIMARY KEY, stripped text, normalized text)",
    "CREATE TEMP TABLE strata_import_docs (key text PRIMARY KEY, id bigint)",
    "CREATE TEMP TABLE strata_import_ids (key text PRIMARY KEY, id bigint, node boolean, new boolean, "
    "merged boolean DEFAULT false)",
    # (skey, tkey: the keys of the line kept; graph_props: the edge's properties in the graph
    # when this row is its only one, graph_sql.STAGED_EDGES)
    "CREATE TEMP TABLE strata_import_triples (label text, se bigint, sd bigint, te bigint, td bigint, "
    "weight float8, props jsonb, skey text, tkey text, graph_props text)",
    "CREATE TEMP TABLE strata_import_written (id bigint, label text, se bigint, sd bigint, te bigint, td bigint)",
)
TEMP_TABLES = (
    "pg_temp.strata_import_lines, pg_temp.strata_import_items, pg_temp.strata_import_text, "
    "pg_temp.strata_import_docs, pg_temp.strata_import_ids, pg_temp.strata_import_triples, "
    "pg_temp.strata_import_written"
)

_WS = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"  # bytes.strip()'s whitespace
_KEY_MESSAGE = "{0} must be a string of 1-200 printable characters"
_DOC_MESSAGE = "{0} 'doc:' needs an external id after it"


def _key_check(field: str) -> str:
    """The CASE branches of parse_line's ``_key`` for ``d -> field`` (ASCII: printable = no
    control character)."""
    value = f"d ->> '{field}'"
    doc_message = _DOC_MESSAGE.format(field).replace("'", "''")
    return (
        f"WHEN jsonb_typeof(d -> '{field}') IS DISTINCT FROM 'string' OR char_length({value}) NOT BETWEEN 1 AND 200 "
        f"OR {value} ~ '[\\x01-\\x1f\\x7f]' THEN '{_KEY_MESSAGE.format(field)}' "
        f"WHEN {value} = 'doc:' THEN '{doc_message}' "
    )


# parse_line in SQL: the first failing check's message, in parse_line's order. PARSE casts every
# line (one parse each); when one is not JSON the statement fails and PARSE_GUARDED, which tests
# each line first (two parses), runs instead.
_PARSE = f"""
INSERT INTO strata_import_items (n, kind, err, key, type, name, aliases, props, source, target, label, weight)
SELECT n, kind, err,
  CASE WHEN err IS NULL AND kind IN ('node', 'doc') THEN d ->> 'key' END,
  CASE WHEN err IS NULL AND kind = 'node' THEN lower(coalesce(d ->> 'label', 'concept')) END,
  CASE WHEN err IS NULL AND kind = 'node' THEN coalesce(p ->> 'name', d ->> 'key') END,
  CASE WHEN err IS NULL AND kind = 'node' AND p ? 'aliases' THEN
    ARRAY(SELECT a FROM jsonb_array_elements_text(p -> 'aliases') WITH ORDINALITY x(a, o) ORDER BY o LIMIT 100) END,
  CASE WHEN err IS NULL AND kind = 'node' THEN p - 'name' - 'aliases'
       WHEN err IS NULL AND kind = 'edge' THEN p - 'weight' - 'provenance' - 'workspace_id' END,
  CASE WHEN err IS NULL AND kind = 'edge' THEN d ->> 'source' END,
  CASE WHEN err IS NULL AND kind = 'edge' THEN d ->> 'target' END,
  CASE WHEN err IS NULL AND kind = 'edge' THEN d ->> 'label' END,
  CASE WHEN err IS NULL AND kind = 'edge' THEN (w #>> '{{}}')::float8 END
FROM (
  SELECT n, d, p, w,
    CASE WHEN err IS NULL AND kind = 'node' AND starts_with(d ->> 'key', 'doc:') THEN 'doc' ELSE kind END AS kind,
    err
  FROM (
    SELECT n, d, p, w, d ->> 'kind' AS kind,
      CASE
        WHEN d IS NULL THEN 'json'
        WHEN jsonb_typeof(d) <> 'object' THEN 'each line must be a JSON object with "kind": "node" or "edge"'
        WHEN jsonb_typeof(p) <> 'object' THEN 'properties must be a JSON object'
        WHEN p ? 'key' OR (strpos(raw, '_strata') > 0
          AND EXISTS (SELECT 1 FROM jsonb_object_keys(p) k WHERE starts_with(k, '_strata')))
          THEN 'property names ''key'' and ''_strata...'' are reserved'
        WHEN d ->> 'kind' = 'node' AND jsonb_typeof(d -> 'kind') = 'string' THEN CASE
          {_key_check("key")}
          WHEN d ? 'label' AND (jsonb_typeof(d -> 'label') IS DISTINCT FROM 'string'
            OR d ->> 'label' !~ '^[A-Za-z][A-Za-z0-9_-]{{0,49}}$')
            THEN 'label must be a letter then up to 49 letters, digits, - or _'
          WHEN starts_with(d ->> 'key', 'doc:') THEN NULL
          WHEN jsonb_typeof(coalesce(p -> 'name', d -> 'key')) <> 'string'
            OR btrim(coalesce(p ->> 'name', d ->> 'key'), {_WS}) = ''
            OR char_length(coalesce(p ->> 'name', d ->> 'key')) > 255
            THEN 'properties.name must be a non-empty string of at most 255 characters'
          WHEN p ? 'aliases' AND (jsonb_typeof(p -> 'aliases') IS DISTINCT FROM 'array'
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(p -> 'aliases') a
                       WHERE jsonb_typeof(a) <> 'string' OR char_length(a #>> '{{}}') NOT BETWEEN 1 AND 255))
            THEN 'properties.aliases must be a list of strings'
          END
        WHEN d ->> 'kind' = 'edge' AND jsonb_typeof(d -> 'kind') = 'string' THEN CASE
          {_key_check("source")}
          {_key_check("target")}
          WHEN jsonb_typeof(d -> 'label') IS DISTINCT FROM 'string' OR d ->> 'label' !~ '^[A-Za-z][A-Za-z0-9_]{{0,62}}$'
            OR d ->> 'label' IN ('Entity', 'DocumentRef', 'Document')
            THEN 'label must be a letter then up to 62 letters, digits or _ (not Entity or DocumentRef)'
          WHEN starts_with(d ->> 'source', 'doc:') AND starts_with(d ->> 'target', 'doc:')
            THEN 'an edge needs an entity at one end at least'
          WHEN jsonb_typeof(w) IS DISTINCT FROM 'number' OR NOT ((w #>> '{{}}')::numeric > -1e12
            AND (w #>> '{{}}')::numeric < 1e12) THEN 'weight must be a number'
          END
        ELSE '"kind" must be "node" or "edge"'
      END AS err
    FROM (
      SELECT n, raw, d, p,
        CASE WHEN p ? 'weight' THEN p -> 'weight' WHEN d ? 'weight' THEN d -> 'weight' ELSE '1.0'::jsonb END AS w
      FROM (
        SELECT n, raw, d,
          CASE WHEN jsonb_typeof(d) = 'object'
            THEN coalesce(nullif(d -> 'properties', 'null'::jsonb), '{{}}'::jsonb) END AS p
        FROM (
          SELECT n, raw, {{cast}} AS d
          FROM strata_import_lines WHERE btrim(raw, {_WS}) <> ''
        OFFSET 0) cast_lines
      OFFSET 0) with_props
    OFFSET 0) with_weight
  OFFSET 0) checked
) classified
"""  # noqa: S608 (constant fragments; values are bound parameters)
PARSE = _PARSE.replace("{cast}", "raw::jsonb")
PARSE_GUARDED = _PARSE.replace("{cast}", "CASE WHEN pg_input_is_valid(raw, 'jsonb') THEN raw::jsonb END")


def _text(column: str, field: str) -> str:
    """``strata_import_text``'s ``field`` for a non-ASCII value (computed by Python), else the SQL
    equivalent for ASCII text. ``column`` must be qualified (or not a column name of that table:
    an unqualified ``stripped`` would bind to the lookup table's own column inside the subquery)."""
    ascii_value = {
        "stripped": f"btrim({column}, {_WS})",
        "normalized": (
            f"left(btrim(regexp_replace(lower({column}), '\\s+', ' ', 'g'), "
            "E' \\t\\r\\n.,;:!?''\"()[]{}<>`*_~|'), 255)"
        ),
    }[field]
    return (
        f"CASE WHEN {column} ~ '{NON_ASCII}' "  # noqa: S608 (constant fragments)
        f"THEN (SELECT t.{field} FROM strata_import_text t WHERE t.value = {column}) ELSE {ascii_value} END"
    )


TEXTS_TO_NORMALIZE = f"""
SELECT DISTINCT v FROM (
  SELECT name AS v FROM strata_import_items WHERE err IS NULL AND kind = 'node'
  UNION ALL SELECT unnest(aliases) FROM strata_import_items WHERE err IS NULL AND kind = 'node'
  UNION ALL SELECT source FROM strata_import_items WHERE err IS NULL AND kind = 'edge'
  UNION ALL SELECT target FROM strata_import_items WHERE err IS NULL AND kind = 'edge'
) t WHERE v ~ '{NON_ASCII}'
"""  # noqa: S608 (constant fragments; values are bound parameters)

_NODES = "strata_import_items i WHERE i.err IS NULL AND i.kind = 'node'"
_EDGES = "strata_import_items i WHERE i.err IS NULL AND i.kind = 'edge'"
_STRIPPED_NAME = _text("m.name", "stripped")

UPSERT_NODES = f"""
WITH merged AS (
  SELECT l.key, l.type, l.name,
    CASE WHEN l.times = 1 THEN coalesce(l.aliases, '{{}}') ELSE coalesce((
      SELECT i.aliases FROM {_NODES} AND i.key = l.key AND cardinality(i.aliases) > 0 ORDER BY i.n DESC LIMIT 1
    ), '{{}}') END AS aliases,
    CASE WHEN l.times = 1 THEN l.props ELSE (
      SELECT coalesce(jsonb_object_agg(e.key, e.value ORDER BY i.n), '{{}}')
      FROM strata_import_items i CROSS JOIN LATERAL jsonb_each(i.props) e
      WHERE i.err IS NULL AND i.kind = 'node' AND i.key = l.key
    ) END AS props
  FROM (
    SELECT DISTINCT ON (i.key) i.key, i.type, i.name, i.aliases, i.props, count(*) OVER (PARTITION BY i.key) AS times
    FROM {_NODES} ORDER BY i.key, i.n DESC
  ) l
), typed AS (
  SELECT m.*, {_STRIPPED_NAME} AS stripped, t.id AS type_id
  FROM merged m JOIN unnest(%(type_names)s::text[], %(type_ids)s::bigint[]) t(name, id) ON t.name = m.type
), up AS (
  INSERT INTO knowledge_entity (workspace_id, key, name, normalized, type_id, aliases, normalized_aliases,
    properties, origin, created_at, updated_at)
  -- normalized from the name as written: normalize_name strips it anyway, and the lookup table
  -- holds the names as written (non-ASCII ones)
  SELECT %(ws)s, key, stripped, {_text("typed.name", "normalized")}, type_id, aliases,
    CASE WHEN cardinality(aliases) = 0 THEN '{{}}'::text[] ELSE
      ARRAY(SELECT {_text("a", "normalized")} FROM unnest(aliases) WITH ORDINALITY x(a, o) ORDER BY o) END,
    props, %(origin)s, now(), now()
  FROM typed
  ON CONFLICT (workspace_id, key) DO UPDATE SET name = EXCLUDED.name, normalized = EXCLUDED.normalized,
    type_id = EXCLUDED.type_id, aliases = EXCLUDED.aliases, normalized_aliases = EXCLUDED.normalized_aliases,
    properties = knowledge_entity.properties || EXCLUDED.properties, updated_at = now()
  RETURNING key, coalesce(merged_into_id, id) AS id, merged_into_id IS NOT NULL AS merged
)
INSERT INTO strata_import_ids (key, id, node, new, merged) SELECT key, id, true, false, merged FROM up
"""  # noqa: S608 (constant fragments; values are bound parameters)

# the edges' entity ends no node line of the batch named, with the ids the committed rows give
# them (prepare, before the batch's transaction: ``VALIDATE_ENDS`` checks them in it)
ENDS = """
INSERT INTO strata_import_ids (key, id, node, new, merged)
SELECT v.k, coalesce(e.merged_into_id, e.id), false, false, coalesce(e.merged_into_id IS NOT NULL, false)
FROM (
  SELECT DISTINCT v.k FROM strata_import_items i CROSS JOIN LATERAL (VALUES (i.source), (i.target)) v(k)
  WHERE i.err IS NULL AND i.kind = 'edge' AND NOT starts_with(v.k, 'doc:')
    AND NOT EXISTS (SELECT 1 FROM strata_import_items n WHERE n.err IS NULL AND n.kind = 'node' AND n.key = v.k)
) v
LEFT JOIN knowledge_entity e ON e.workspace_id = %(ws)s AND e.key = v.k
"""
# in the batch's transaction (the workspace locked): an end found before whose entity is gone,
# merged (its id was the survivor's) or another key's now is looked up again (ENDS_FOUND), so
# every id is what the rows say under the lock; a found end costs one primary-key probe
VALIDATE_ENDS = """
UPDATE strata_import_ids x SET id = NULL, merged = false
WHERE NOT x.node AND x.id IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM knowledge_entity e
  WHERE e.id = x.id AND e.workspace_id = %(ws)s AND e.key = x.key AND e.merged_into_id IS NULL
)
"""
# (a probe per end not found yet: usually none; a join would scan every entity of the workspace)
ENDS_FOUND = """
UPDATE strata_import_ids x SET (id, merged) = (
  SELECT coalesce(e.merged_into_id, e.id), e.merged_into_id IS NOT NULL
  FROM knowledge_entity e WHERE e.workspace_id = %(ws)s AND e.key = x.key
)
WHERE x.id IS NULL
"""
# and the bare entities created for the others
ENDS_ADDED = f"""
WITH added AS (
  INSERT INTO knowledge_entity (workspace_id, key, name, normalized, type_id, aliases, normalized_aliases,
    properties, origin, created_at, updated_at)
  SELECT %(ws)s, x.key, x.key, {_text("x.key", "normalized")}, %(concept)s, '{{}}', '{{}}', '{{}}'::jsonb, %(origin)s,
    now(), now()
  FROM strata_import_ids x WHERE x.id IS NULL ORDER BY x.key
  ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key, id
)
UPDATE strata_import_ids x SET id = added.id, new = true, merged = false FROM added WHERE x.key = added.key
"""  # noqa: S608 (constant fragments; values are bound parameters)

_NO_DOC = "(starts_with({0}, 'doc:') AND NOT EXISTS (SELECT 1 FROM strata_import_docs x WHERE x.key = {0}))"

# the edges whose document end does not exist: (line, the missing key)
MISSING_DOCUMENTS = f"""
SELECT i.n, CASE WHEN {_NO_DOC.format("i.source")} THEN i.source ELSE i.target END
FROM {_EDGES} AND ({_NO_DOC.format("i.source")} OR {_NO_DOC.format("i.target")})
ORDER BY i.n
"""  # noqa: S608 (constant fragments; values are bound parameters)

_SAME = " AND ".join(f"{{0}}.{c} IS NOT DISTINCT FROM l.{c}" for c in ("se", "sd", "te", "td"))

TRIPLES = f"""
WITH ok AS (
  SELECT i.n, i.label, s.id AS se, sd.id AS sd, t.id AS te, td.id AS td, i.weight, i.props, i.source, i.target
  FROM {
    _EDGES.replace(
        " WHERE ",
        " LEFT JOIN strata_import_ids s ON s.key = i.source "
        "LEFT JOIN strata_import_docs sd ON sd.key = i.source LEFT JOIN strata_import_ids t ON t.key = i.target "
        "LEFT JOIN strata_import_docs td ON td.key = i.target WHERE ",
    )
}
    AND (s.id IS NOT NULL OR sd.id IS NOT NULL) AND (t.id IS NOT NULL OR td.id IS NOT NULL)
), last AS (
  SELECT DISTINCT ON (label, se, sd, te, td) *, count(*) OVER (PARTITION BY label, se, sd, te, td) AS times
  FROM ok ORDER BY label, se, sd, te, td, n DESC
)
INSERT INTO strata_import_triples (label, se, sd, te, td, weight, props, skey, tkey, graph_props)
SELECT m.*, {graph_sql.STAGED_PROPS.format("m")} FROM (
  SELECT l.label, l.se, l.sd, l.te, l.td, l.weight,
    CASE WHEN l.times = 1 THEN l.props ELSE (
      SELECT coalesce(jsonb_object_agg(e.key, e.value ORDER BY o.n), '{{}}')
      FROM ok o CROSS JOIN LATERAL jsonb_each(o.props) e WHERE o.label = l.label AND {_SAME.format("o")}
    ) END AS props,
    l.source, l.target
  FROM last l
) m
"""  # noqa: S608 (constant fragments; values are bound parameters)

# whether TRIPLES can run before the batch's transaction: no node lines (their ids come from
# the upsert) and every end found, unmerged
TRIPLES_READY = """
SELECT NOT EXISTS (SELECT 1 FROM strata_import_items WHERE err IS NULL AND kind = 'node')
  AND NOT EXISTS (SELECT 1 FROM strata_import_ids WHERE id IS NULL OR merged)
"""

# the rows written (inserted, or updated because their weight or properties changed) are kept:
# the event names them by ranges of ids, not one by one (EVENT_LISTS)

UPSERT_RELATIONS = """
WITH up AS (
  INSERT INTO knowledge_relation AS r (workspace_id, label, source_entity_id, source_document_id, target_entity_id,
    target_document_id, properties, weight, provenance, document_id, created_at)
  SELECT %(ws)s, label, se, sd, te, td, props, weight, %(origin)s, NULL, now() FROM strata_import_triples
  ON CONFLICT ON CONSTRAINT knowledge_relation_unique DO UPDATE
  SET weight = EXCLUDED.weight, properties = EXCLUDED.properties
  WHERE (r.weight, r.properties) IS DISTINCT FROM (EXCLUDED.weight, EXCLUDED.properties)
  RETURNING r.id, r.label, r.source_entity_id, r.source_document_id, r.target_entity_id, r.target_document_id
)
INSERT INTO strata_import_written (id, label, se, sd, te, td) SELECT * FROM up
"""

_UNCHANGED = """NOT EXISTS (SELECT 1 FROM strata_import_written w WHERE w.label = t.label
  AND coalesce(w.se, -1) = coalesce(t.se, -1) AND coalesce(w.sd, -1) = coalesce(t.sd, -1)
  AND coalesce(w.te, -1) = coalesce(t.te, -1) AND coalesce(w.td, -1) = coalesce(t.td, -1))"""

# the graph-changed event's lists (publish_graph_payload): the edges whose rows the batch wrote
# as ranges of their ids ([first, last] of each run of consecutive ids: an import's new rows
# take consecutive ids, so a batch is a few ranges), with their count and labels; the batch's
# other edges (rows unchanged) listed as publish_graph_change lists edges (distinct, sorted like
# Python's tuples: "d" before "e", strings by code point), and the entities and documents named
EVENT_LISTS = f"""
SELECT
  (SELECT coalesce(jsonb_agg(jsonb_build_array(label, CASE WHEN se IS NULL THEN 'd' ELSE 'e' END, coalesce(se, sd),
      CASE WHEN te IS NULL THEN 'd' ELSE 'e' END, coalesce(te, td))
    ORDER BY label COLLATE "C", se IS NOT NULL, coalesce(se, sd), te IS NOT NULL, coalesce(te, td)), '[]')
   FROM strata_import_triples t
   -- (every row written, as in a first import: no edge to list, no anti-join to run)
   WHERE (SELECT count(*) FROM strata_import_written) < (SELECT count(*) FROM strata_import_triples)
     AND {_UNCHANGED})::text,
  (SELECT coalesce(jsonb_agg(jsonb_build_array(id, key) ORDER BY id, key COLLATE "C"), '[]')
   FROM strata_import_ids WHERE node OR new)::text,
  (SELECT coalesce(jsonb_agg(d ORDER BY d), '[]') FROM (
    SELECT sd AS d FROM strata_import_triples WHERE sd IS NOT NULL
    UNION SELECT td FROM strata_import_triples WHERE td IS NOT NULL) docs)::text,
  (SELECT coalesce(jsonb_agg(jsonb_build_array(first, last) ORDER BY first), '[]') FROM (
    SELECT min(id) AS first, max(id) AS last FROM (
      SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM strata_import_written) w
    GROUP BY run) ranges)::text,
  (SELECT count(*) FROM strata_import_written),
  (SELECT coalesce(jsonb_agg(DISTINCT label ORDER BY label), '[]') FROM strata_import_written)::text
"""  # noqa: S608 (constant fragments)


def cursor() -> Any:
    """A psycopg cursor on Django's connection (the same session and transaction)."""
    connection.ensure_connection()
    return connection.connection.cursor()


def escape_copy(data: bytes) -> bytes:
    """Lines joined by newlines as COPY text data: each line arrives byte-exact as one row."""
    return data.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")
