"""The graph projection's set-based path (knowledge/projections.py) for a store that shares the
database (``load_query``: AGE): the queries that yield the nodes and edges of a
``knowledge.graph.changed`` event from the rows, so no row leaves PostgreSQL.

They produce what ``entity_node`` and ``aggregate_edges`` produce on the Python path: an
entity's node (its properties without ``key`` and ``_strata...`` names, plus workspace_id,
entity_id, name, type, aliases and its namespaced key) and each edge as the aggregate of its
relation rows (weights summed, properties merged in row order, the sorted provenances, at most
20). They yield only live entities and edges with rows between live entities; when an event
names anything else (a document, a merged or deleted entity, an edge with no rows left) the
projection takes the Python path, which also deletes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

NODES = """
SELECT DISTINCT ON (e.id) %(entity)s::text,
  ((CASE WHEN strpos(e.properties::text, '_strata') > 0 THEN (
      SELECT coalesce(jsonb_object_agg(p.k, p.v), '{}') FROM jsonb_each(e.properties) p(k, v)
      WHERE NOT starts_with(p.k, '_strata')) ELSE e.properties END - 'key')
   || jsonb_build_object('workspace_id', e.workspace_id, 'entity_id', e.id, 'name', e.name, 'type', t.name,
        'aliases', to_jsonb(e.aliases), 'key', %(prefix)s || e.key))::text
FROM jsonb_array_elements(%(named)s::jsonb) x
JOIN knowledge_entity e ON e.id = (x ->> 0)::bigint
JOIN knowledge_entitytype t ON t.id = e.type_id
WHERE e.workspace_id = %(ws)s AND e.merged_into_id IS NULL
"""

_SAME_ROWS = (
    "r.workspace_id = %(ws)s AND r.label = {0}.label AND r.source_entity_id = {0}.se AND r.target_entity_id = {0}.te"
)

# the relation rows an event names by id ranges (writes.RelationRanges), each range walked on
# the primary key
_IN_RANGES = (
    "unnest(%(firsts)s::bigint[], %(lasts)s::bigint[]) g(first, last) "
    "JOIN knowledge_relation r ON r.id BETWEEN g.first AND g.last AND r.workspace_id = %(ws)s"
)
RANGE_TRIPLES = f"""
SELECT DISTINCT r.label, r.source_entity_id, r.source_document_id, r.target_entity_id, r.target_document_id
FROM {_IN_RANGES}
"""  # noqa: S608 (constant fragments; values are bound parameters)

EDGES = f"""
WITH t AS (
  SELECT x ->> 0 AS label, (x ->> 2)::bigint AS se, (x ->> 4)::bigint AS te
  FROM jsonb_array_elements(%(edges)s::jsonb) x WHERE x ->> 1 = 'e' AND x ->> 3 = 'e'
  UNION
  SELECT r.label, r.source_entity_id, r.target_entity_id FROM {_IN_RANGES}
  WHERE r.source_entity_id IS NOT NULL AND r.target_entity_id IS NOT NULL
), agg AS (
  SELECT t.label, t.se, t.te, sum(r.weight) AS weight, count(*) AS rows,
    (array_agg(r.properties ORDER BY r.id))[1] AS props, array_agg(DISTINCT r.provenance) AS provenance
  FROM t JOIN knowledge_relation r ON {_SAME_ROWS.format("t")}
  GROUP BY t.label, t.se, t.te
), merged AS (
  SELECT a.*, CASE WHEN a.rows = 1 THEN a.props ELSE (
    SELECT coalesce(jsonb_object_agg(p.k, p.v ORDER BY r.id), '{{}}')
    FROM knowledge_relation r CROSS JOIN LATERAL jsonb_each(r.properties) p(k, v) WHERE {_SAME_ROWS.format("a")}
  ) END AS merged
  FROM agg a
)
SELECT m.label, %(entity)s::text, %(prefix)s || s.key, %(entity)s::text, %(prefix)s || e.key,
  left(((m.merged - 'weight' - 'provenance' - 'workspace_id')
    || jsonb_build_object('provenance', to_jsonb(m.provenance[1:20]), 'workspace_id', %(ws)s))::text, -1)
  || ', "weight": ' || CASE WHEN m.weight::text ~ '^-?[0-9]+$' THEN m.weight::text || '.0' ELSE m.weight::text END
  || '}}'
FROM merged m
JOIN knowledge_entity s ON s.id = m.se AND s.merged_into_id IS NULL
JOIN knowledge_entity e ON e.id = m.te AND e.merged_into_id IS NULL
"""  # noqa: S608 (constant fragments; values are bound parameters)

# ---------------------------------------------------------------- an import batch's own rows

# While graph_import publishes a batch's event (``staged_import``), its temporary tables
# (knowledge/import_sql.py, in this session and transaction) hold every relation row the event
# names (strata_import_triples: the rows just upserted, provenance ``origin``, no document, with
# their ends' keys and graph properties). When no other row shares those edges (no row of another
# provenance or with a document: knowledge_rel_evidence holds exactly those) and no end is a
# merged entity, each edge's aggregate is its one row, so the projection reads the staged rows
# instead of the relation and entity tables.
_STAGED: ContextVar[str | None] = ContextVar("strata_import_staged", default=None)


@contextmanager
def staged_import(*, provenance: str) -> Iterator[None]:
    """Mark the event published inside this block as one import batch's (see above)."""
    token = _STAGED.set(provenance)
    try:
        yield
    finally:
        _STAGED.reset(token)


def staged_provenance() -> str | None:
    """The provenance of the import batch publishing its event now, else None."""
    return _STAGED.get()


# true when the staged rows are each edge's only row (the edges' rows are all staged)
STAGED_ONLY = """
SELECT NOT EXISTS (SELECT 1 FROM strata_import_ids WHERE merged)
  AND NOT EXISTS (SELECT 1 FROM strata_import_triples WHERE se IS NULL OR te IS NULL)
  AND NOT EXISTS (
    SELECT 1 FROM strata_import_triples t JOIN knowledge_relation r
      ON r.workspace_id = %(ws)s AND r.label = t.label AND r.source_entity_id = t.se AND r.target_entity_id = t.te
    WHERE (r.document_id IS NOT NULL OR NOT (r.provenance = %(origin)s))
  )
"""

# an imported row's edge properties in the graph when it is the edge's only row (EDGES' output
# for it): its properties, its provenance, the workspace and its weight (written as Python's
# float repr would be); ``{0}`` the alias of a row with ``props`` and ``weight``; computed when
# the batch's triples are merged (knowledge/import_sql.py), before its transaction when it can
STAGED_PROPS = """left((({0}.props - 'weight' - 'provenance' - 'workspace_id')
    || jsonb_build_object('provenance', jsonb_build_array(%(origin)s::text), 'workspace_id', %(ws)s))::text, -1)
  || ', "weight": ' || CASE WHEN {0}.weight::text ~ '^-?[0-9]+$' THEN {0}.weight::text || '.0'
    ELSE {0}.weight::text END || '}}'"""

# EDGES' output from the staged rows: one row per edge, so the weight and properties are its own
STAGED_EDGES = """
SELECT t.label, %(entity)s::text, %(prefix)s || t.skey, %(entity)s::text, %(prefix)s || t.tkey, t.graph_props
FROM strata_import_triples t
"""
