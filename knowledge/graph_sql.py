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

EDGES = f"""
WITH t AS (
  SELECT x ->> 0 AS label, (x ->> 2)::bigint AS se, (x ->> 4)::bigint AS te
  FROM jsonb_array_elements(%(edges)s::jsonb) x WHERE x ->> 1 = 'e' AND x ->> 3 = 'e'
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
