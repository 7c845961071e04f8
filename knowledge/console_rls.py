"""The Cypher console's workspace isolation on AGE: PostgreSQL row security, not a result filter.

The console's statement runs under ``SET LOCAL ROLE strata_console`` (a NOLOGIN role) with
``strata.console_workspace`` set to the workspace's id (``set_config(..., true)``: both end with
the console's transaction, which is always rolled back). The role may only SELECT the graph's
label tables, and each of them has ROW LEVEL SECURITY with one policy for that role:

* a vertex is visible when its key starts with ``w<workspace id>:`` (``knowledge/stores.py``'s
  namespace; other apps' nodes, e.g. content's ``Document``, have no such key and stay hidden);
* an edge is visible when its ``workspace_id`` property is the workspace (the knowledge
  projection writes it on every edge, and only between two nodes of that workspace) and both of
  its ends are visible.

So a WHERE clause, an aggregate or a path cannot read another workspace's rows at all: PostgreSQL
applies the policy before any of the query's own conditions (those use functions that are not
LEAKPROOF). Row security binds the executor's scans only: AGE's variable-length matcher
(``-[*..]->``, its in-memory graph) and ``vertex_stats()`` read the tables directly, so the
console refuses those (``knowledge/console.py``; a test shows the bypass is real).

The policies name only ``strata_console``: the app's own queries (the tables' owner, or a
superuser) are not affected. ``ENABLE`` (not ``FORCE``) row security leaves the owner alone.

``ensure`` creates the role, the grants and the policies idempotently, in a short transaction of
its own (no index DDL): from the migration for the labels that exist, and before each console
query for labels created since (one catalogue query when nothing is missing). A label table
without the policy is also without the role's SELECT grant, so it can never be read unfiltered;
reads through the parent tables (``MATCH (n)``) use the parents' policies.
"""

from __future__ import annotations

from django.db import connection, transaction
from psycopg import sql

from core.locks import advisory_xact_lock

ROLE = "strata_console"
SETTING = "strata.console_workspace"
POLICY = "strata_console_workspace"
_KEY = "ag_catalog.agtype_access_operator(VARIADIC ARRAY[properties, '\"key\"'::ag_catalog.agtype])"
_WORKSPACE = "ag_catalog.agtype_access_operator(VARIADIC ARRAY[properties, '\"workspace_id\"'::ag_catalog.agtype])"
_CURRENT = f"current_setting('{SETTING}', true)"
_VISIBLE_END = "EXISTS (SELECT 1 FROM {vertices} v WHERE v.id = {end})"


def condition(graph: str, kind: str) -> sql.Composable:
    """The policy's condition for a label kind (v: vertex, e: edge). An agtype string cast to
    text is its bare value; a missing setting (NULL) shows nothing. An edge also needs both of
    its ends visible (the subqueries run under the vertices' own policy), so even an edge forged
    across workspaces could not lead the console to another workspace's node."""
    if kind == "v":
        return sql.SQL(f"starts_with(({_KEY})::text, 'w' || {_CURRENT} || ':')")
    vertices = sql.Identifier(graph, "_ag_label_vertex")
    ends = [sql.SQL(_VISIBLE_END).format(vertices=vertices, end=sql.Identifier(end)) for end in ("start_id", "end_id")]
    return sql.SQL(" AND ").join([sql.SQL(f"({_WORKSPACE})::text = {_CURRENT}"), *ends])


_MISSING = """
SELECT l.relation::regclass::text, l.kind, c.relrowsecurity
FROM ag_catalog.ag_label l
JOIN ag_catalog.ag_graph g ON g.graphid = l.graph
JOIN pg_class c ON c.oid = l.relation
WHERE g.name = %s
  AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = l.relation AND p.polname = %s)
"""


def missing(graph: str) -> list[tuple[str, str, bool]]:
    """(table, kind, row security on) of the graph's label tables without the policy."""
    with connection.cursor() as cursor:
        cursor.execute(_MISSING, [graph, POLICY])
        return cursor.fetchall()


def ensure(graph: str) -> int:
    """The role, its grants and every label table's policy (idempotent); how many tables it
    secured. Must not run inside the console's READ ONLY transaction."""
    if not missing(graph) and role_exists():
        return 0
    with transaction.atomic():
        advisory_xact_lock(f"strata.console_rls:{graph}")
        with connection.cursor() as cursor:
            _create_role(cursor)
            cursor.execute(
                sql.SQL("GRANT USAGE ON SCHEMA ag_catalog, {} TO {}").format(
                    sql.Identifier(graph), sql.Identifier(ROLE)
                )
            )
            cursor.execute(
                sql.SQL("GRANT SELECT ON ag_catalog.ag_graph, ag_catalog.ag_label TO {}").format(sql.Identifier(ROLE))
            )
            tables = missing(graph)
            for table, kind, secured in tables:
                name = sql.SQL(table)  # regclass text: already a quoted, schema-qualified name
                if not secured:
                    cursor.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name))
                cursor.execute(
                    sql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING ({})").format(
                        sql.Identifier(POLICY), name, sql.Identifier(ROLE), condition(graph, kind)
                    )
                )
                cursor.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(name, sql.Identifier(ROLE)))
    return len(tables)


def role_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        return cursor.fetchone() is not None


def _create_role(cursor) -> None:  # noqa: ANN001 - a Django cursor
    """NOLOGIN, no privileges of its own; the app's user may SET ROLE to it (a superuser always
    may; another user is granted membership, which needs CREATEROLE once)."""
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
    if cursor.fetchone() is None:
        # roles are cluster-wide: a concurrent creator (another database) may win the race
        cursor.execute(
            sql.SQL(
                "DO $$ BEGIN CREATE ROLE {} NOLOGIN NOINHERIT; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            ).format(sql.Identifier(ROLE))
        )
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not cursor.fetchone()[0]:
        cursor.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(ROLE)))


def enter(workspace_id: int) -> None:
    """Inside the console's transaction: this workspace, as the console role (both undone when
    the transaction or savepoint rolls back)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, str(int(workspace_id))])
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(ROLE)))
