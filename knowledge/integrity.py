"""The integrity of ``knowledge_relation``'s references, checked by triggers instead of foreign keys.

A relation row names its workspace (``core_workspace``) and up to two entities
(``knowledge_entity``). Django's foreign keys would check each inserted row three times at commit
(row-level deferred RI triggers: about 12 us per row, the largest single cost of ``graph_import``);
these triggers check the same references once per statement, set-based (knowledge.0009):

* **Referencing side (inserts and updates of relations), immediate, per statement.** An AFTER
  INSERT and an AFTER UPDATE trigger read the statement's rows from its transition tables (an
  update: only the rows whose workspace or entity ends changed), lock the referenced workspace
  and entity rows ``FOR KEY SHARE`` (the lock a foreign-key check takes: a concurrent DELETE of
  one of them waits for this transaction, then fails at its commit) and count them. Each entity
  end must exist *and belong to the row's workspace* (stronger than the foreign keys were). A row
  deleted by another transaction after this statement's snapshot is skipped by the lock, so the
  counts differ and the statement fails too. A failure raises SQLSTATE 23503
  (``foreign_key_violation``; Django raises ``IntegrityError``) naming one offending id, at the
  statement rather than at commit (the one guarantee that changed: immediate, not deferred).
* **Referenced side (deletes of entities and workspaces), deferred, per row.** Constraint
  triggers ``DEFERRABLE INITIALLY DEFERRED`` on ``knowledge_entity`` and ``core_workspace``
  emulate the foreign keys' NO ACTION: at commit, a deleted (or re-keyed) row that a relation
  still references raises 23503. So the ORM's cascades (relations deleted first, in the same
  transaction) work as before, and a raw DELETE that would orphan relations still fails. An
  AFTER TRUNCATE trigger refuses a TRUNCATE that would leave orphans.

A statement of more than ``SMALL_STATEMENT`` rows is checked through EXECUTE, so it is planned
with its real row counts (a plan cached from a one-row insert would join a 20,000-row batch by
nested loops); a smaller one (the ORM's one-row writes) by one cached index probe per reference,
as a foreign key checks each row.

Change this SQL only together with a new migration that runs it again.
"""

from __future__ import annotations

#: the names a violation reports as its constraint (``psycopg``: ``exc.diag.constraint_name``)
WORKSPACE_CONSTRAINT = "knowledge_relation_workspace"
SOURCE_CONSTRAINT = "knowledge_relation_source_entity"
TARGET_CONSTRAINT = "knowledge_relation_target_entity"

# the rows a statement's check reads: every inserted row, or the updated rows whose references changed
_INSERTED = "SELECT workspace_id, source_entity_id, target_entity_id FROM knowledge_relation_new"
_UPDATED = (
    "SELECT n.workspace_id, n.source_entity_id, n.target_entity_id"
    " FROM knowledge_relation_new n JOIN knowledge_relation_old o ON o.id = n.id"
    " WHERE (n.workspace_id, n.source_entity_id, n.target_entity_id)"
    " IS DISTINCT FROM (o.workspace_id, o.source_entity_id, o.target_entity_id)"
)

# lock and count: wanted == locked for both, or some reference is missing (or of another workspace).
# One index probe per distinct reference, whatever the statistics say: a lateral subquery that
# locks is never flattened into a join, so the planner cannot pick a hash or nested-loop join
# over the whole entity table (after a big delete, before autovacuum, the table looks empty: a
# join planned from that read all 60,000 entities once per end, 6 minutes for one batch)
_COUNT = """
WITH checked AS MATERIALIZED (%s),
workspaces AS MATERIALIZED (SELECT DISTINCT workspace_id AS id FROM checked),
ends AS MATERIALIZED (
  SELECT DISTINCT c.workspace_id, v.id FROM checked c
  CROSS JOIN LATERAL (VALUES (c.source_entity_id), (c.target_entity_id)) v (id)
  WHERE v.id IS NOT NULL)
SELECT
  (SELECT count(*) FROM workspaces),
  (SELECT count(*) FROM workspaces n
   CROSS JOIN LATERAL (SELECT FROM core_workspace w WHERE w.id = n.id FOR KEY SHARE OF w) l),
  (SELECT count(*) FROM ends),
  (SELECT count(*) FROM ends n
   CROSS JOIN LATERAL (
     SELECT FROM knowledge_entity e WHERE e.id = n.id AND e.workspace_id = n.workspace_id FOR KEY SHARE OF e) l)
"""

_OFFENDING = """
WITH checked AS MATERIALIZED (%s)
SELECT col, val, ws,
  (SELECT e.workspace_id FROM knowledge_entity e WHERE e.id = val AND col <> 'workspace_id') AS entity_workspace
FROM (
  SELECT 'workspace_id' AS col, c.workspace_id AS val, c.workspace_id AS ws FROM checked c
  WHERE NOT EXISTS (SELECT FROM core_workspace w WHERE w.id = c.workspace_id OFFSET 0)
  UNION ALL
  SELECT 'source_entity_id', c.source_entity_id, c.workspace_id FROM checked c
  WHERE c.source_entity_id IS NOT NULL
    AND NOT EXISTS (
      SELECT FROM knowledge_entity e WHERE e.id = c.source_entity_id AND e.workspace_id = c.workspace_id OFFSET 0)
  UNION ALL
  SELECT 'target_entity_id', c.target_entity_id, c.workspace_id FROM checked c
  WHERE c.target_entity_id IS NOT NULL
    AND NOT EXISTS (
      SELECT FROM knowledge_entity e WHERE e.id = c.target_entity_id AND e.workspace_id = c.workspace_id OFFSET 0)
) bad
LIMIT 1
"""

#: up to this many rows a statement is checked one index probe per reference (cached plans that do
#: not depend on the table's size: the few ORM writes of one row); beyond it, set-based (planned
#: per statement)
SMALL_STATEMENT = 32

_CHECK_FUNCTION = f"""
CREATE FUNCTION knowledge_relation_check_references() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n integer;
  rows_sql text;
  ws_wanted bigint; ws_locked bigint; ends_wanted bigint; ends_locked bigint;
  wss bigint[]; srcs bigint[]; tgts bigint[];
  checked_ws bigint;
  bad record;
BEGIN
  SELECT count(*) INTO n FROM (SELECT FROM knowledge_relation_new LIMIT {SMALL_STATEMENT} + 1) s;
  IF n = 0 THEN
    RETURN NULL;  -- a statement-level trigger fires for zero rows too
  END IF;
  rows_sql := CASE TG_OP WHEN 'INSERT' THEN $r${_INSERTED}$r$ ELSE $r${_UPDATED}$r$ END;
  IF n <= {SMALL_STATEMENT} THEN
    IF TG_OP = 'INSERT' THEN
      SELECT array_agg(workspace_id), array_agg(source_entity_id), array_agg(target_entity_id)
        INTO wss, srcs, tgts FROM knowledge_relation_new;
    ELSE
      SELECT array_agg(n.workspace_id), array_agg(n.source_entity_id), array_agg(n.target_entity_id)
        INTO wss, srcs, tgts
        FROM knowledge_relation_new n JOIN knowledge_relation_old o ON o.id = n.id
        WHERE (n.workspace_id, n.source_entity_id, n.target_entity_id)
          IS DISTINCT FROM (o.workspace_id, o.source_entity_id, o.target_entity_id);
    END IF;
    ws_wanted := 0; ws_locked := 0; ends_wanted := 0; ends_locked := 0;
    FOR i IN 1 .. coalesce(array_length(wss, 1), 0) LOOP
      IF wss[i] IS DISTINCT FROM checked_ws THEN
        ws_wanted := ws_wanted + 1;
        PERFORM FROM core_workspace w WHERE w.id = wss[i] FOR KEY SHARE OF w;
        IF FOUND THEN ws_locked := ws_locked + 1; checked_ws := wss[i]; END IF;
      END IF;
      IF srcs[i] IS NOT NULL THEN
        ends_wanted := ends_wanted + 1;
        PERFORM FROM knowledge_entity e WHERE e.id = srcs[i] AND e.workspace_id = wss[i] FOR KEY SHARE OF e;
        IF FOUND THEN ends_locked := ends_locked + 1; END IF;
      END IF;
      IF tgts[i] IS NOT NULL THEN
        ends_wanted := ends_wanted + 1;
        PERFORM FROM knowledge_entity e WHERE e.id = tgts[i] AND e.workspace_id = wss[i] FOR KEY SHARE OF e;
        IF FOUND THEN ends_locked := ends_locked + 1; END IF;
      END IF;
    END LOOP;
  ELSE
    EXECUTE format($q${_COUNT}$q$, rows_sql) INTO ws_wanted, ws_locked, ends_wanted, ends_locked;
  END IF;
  IF ws_wanted = ws_locked AND ends_wanted = ends_locked THEN
    RETURN NULL;
  END IF;
  EXECUTE format($q${_OFFENDING}$q$, rows_sql) INTO bad;
  IF bad.col IS NULL THEN
    RAISE EXCEPTION 'insert or update on table "knowledge_relation" violates its references'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'knowledge_relation',
        DETAIL = 'A referenced workspace or entity was deleted concurrently.';
  ELSIF bad.col = 'workspace_id' THEN
    RAISE EXCEPTION 'insert or update on table "knowledge_relation" violates foreign key constraint "%"',
        '{WORKSPACE_CONSTRAINT}'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'knowledge_relation', COLUMN = 'workspace_id',
        CONSTRAINT = '{WORKSPACE_CONSTRAINT}',
        DETAIL = format('Key (workspace_id)=(%s) is not present in table "core_workspace".', bad.val);
  ELSE
    RAISE EXCEPTION 'insert or update on table "knowledge_relation" violates foreign key constraint "%"',
        CASE bad.col WHEN 'source_entity_id' THEN '{SOURCE_CONSTRAINT}' ELSE '{TARGET_CONSTRAINT}' END
      USING ERRCODE = 'foreign_key_violation', TABLE = 'knowledge_relation', COLUMN = bad.col,
        CONSTRAINT = CASE bad.col WHEN 'source_entity_id' THEN '{SOURCE_CONSTRAINT}' ELSE '{TARGET_CONSTRAINT}' END,
        DETAIL = CASE WHEN bad.entity_workspace IS NULL
          THEN format('Key (%s)=(%s) is not present in table "knowledge_entity".', bad.col, bad.val)
          ELSE format('Key (%s)=(%s) is an entity of workspace %s, not of the relation''s workspace %s.',
                      bad.col, bad.val, bad.entity_workspace, bad.ws) END;
  END IF;
END
$fn$
"""  # noqa: S608 (constant SQL and names)

# the referenced side: NO ACTION, checked at commit (row-level constraint triggers), locking one
# referencing row FOR KEY SHARE as PostgreSQL's own check does
_ENTITY_GONE_FUNCTION = f"""
CREATE FUNCTION knowledge_relation_entity_gone() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  col text;
BEGIN
  IF EXISTS (SELECT FROM knowledge_entity WHERE id = OLD.id) THEN
    RETURN NULL;  -- the key exists again (what NO ACTION checks first)
  END IF;
  PERFORM FROM knowledge_relation x WHERE x.source_entity_id = OLD.id LIMIT 1 FOR KEY SHARE OF x;
  IF FOUND THEN
    col := 'source_entity_id';
  ELSE
    PERFORM FROM knowledge_relation x WHERE x.target_entity_id = OLD.id LIMIT 1 FOR KEY SHARE OF x;
    IF FOUND THEN
      col := 'target_entity_id';
    END IF;
  END IF;
  IF col IS NOT NULL THEN
    RAISE EXCEPTION
      'update or delete on table "knowledge_entity" violates foreign key constraint "%" on table "knowledge_relation"',
      CASE col WHEN 'source_entity_id' THEN '{SOURCE_CONSTRAINT}' ELSE '{TARGET_CONSTRAINT}' END
      USING ERRCODE = 'foreign_key_violation', TABLE = 'knowledge_relation', COLUMN = col,
        CONSTRAINT = CASE col WHEN 'source_entity_id' THEN '{SOURCE_CONSTRAINT}' ELSE '{TARGET_CONSTRAINT}' END,
        DETAIL = format('Key (id)=(%s) is still referenced from table "knowledge_relation".', OLD.id);
  END IF;
  RETURN NULL;
END
$fn$
"""  # noqa: S608 (constant SQL and names)

_WORKSPACE_GONE_FUNCTION = f"""
CREATE FUNCTION knowledge_relation_workspace_gone() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT FROM core_workspace WHERE id = OLD.id) THEN
    RETURN NULL;
  END IF;
  PERFORM FROM knowledge_relation x WHERE x.workspace_id = OLD.id LIMIT 1 FOR KEY SHARE OF x;
  IF FOUND THEN
    RAISE EXCEPTION
      'update or delete on table "core_workspace" violates foreign key constraint "%" on table "knowledge_relation"',
      '{WORKSPACE_CONSTRAINT}'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'knowledge_relation', COLUMN = 'workspace_id',
        CONSTRAINT = '{WORKSPACE_CONSTRAINT}',
        DETAIL = format('Key (id)=(%s) is still referenced from table "knowledge_relation".', OLD.id);
  END IF;
  RETURN NULL;
END
$fn$
"""  # noqa: S608 (constant SQL and names)

# TRUNCATE of a referenced table alone would orphan relations (a foreign key refused it outright)
_TRUNCATED_FUNCTION = """
CREATE FUNCTION knowledge_relation_referenced_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT FROM knowledge_relation) THEN
    RAISE EXCEPTION 'cannot truncate table "%" while table "knowledge_relation" has rows', TG_TABLE_NAME
      USING ERRCODE = 'foreign_key_violation',
        HINT = 'Truncate table "knowledge_relation" at the same time.';
  END IF;
  RETURN NULL;
END
$fn$
"""

_TRIGGERS = [
    "CREATE TRIGGER knowledge_relation_check_insert AFTER INSERT ON knowledge_relation"
    " REFERENCING NEW TABLE AS knowledge_relation_new"
    " FOR EACH STATEMENT EXECUTE FUNCTION knowledge_relation_check_references()",
    "CREATE TRIGGER knowledge_relation_check_update AFTER UPDATE ON knowledge_relation"
    " REFERENCING OLD TABLE AS knowledge_relation_old NEW TABLE AS knowledge_relation_new"
    " FOR EACH STATEMENT EXECUTE FUNCTION knowledge_relation_check_references()",
    "CREATE CONSTRAINT TRIGGER knowledge_relation_entity_deleted AFTER DELETE ON knowledge_entity"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION knowledge_relation_entity_gone()",
    "CREATE CONSTRAINT TRIGGER knowledge_relation_entity_rekeyed AFTER UPDATE OF id ON knowledge_entity"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)"
    " EXECUTE FUNCTION knowledge_relation_entity_gone()",
    "CREATE CONSTRAINT TRIGGER knowledge_relation_workspace_deleted AFTER DELETE ON core_workspace"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION knowledge_relation_workspace_gone()",
    "CREATE CONSTRAINT TRIGGER knowledge_relation_workspace_rekeyed AFTER UPDATE OF id ON core_workspace"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)"
    " EXECUTE FUNCTION knowledge_relation_workspace_gone()",
    "CREATE TRIGGER knowledge_relation_entity_truncated AFTER TRUNCATE ON knowledge_entity"
    " FOR EACH STATEMENT EXECUTE FUNCTION knowledge_relation_referenced_truncated()",
    "CREATE TRIGGER knowledge_relation_workspace_truncated AFTER TRUNCATE ON core_workspace"
    " FOR EACH STATEMENT EXECUTE FUNCTION knowledge_relation_referenced_truncated()",
]

#: the migration's forward SQL: the functions, then the triggers
CREATE = [_CHECK_FUNCTION, _ENTITY_GONE_FUNCTION, _WORKSPACE_GONE_FUNCTION, _TRUNCATED_FUNCTION, *_TRIGGERS]

#: the migration's reverse SQL (before the foreign keys come back)
DROP = [
    "DROP TRIGGER IF EXISTS knowledge_relation_check_insert ON knowledge_relation",
    "DROP TRIGGER IF EXISTS knowledge_relation_check_update ON knowledge_relation",
    "DROP TRIGGER IF EXISTS knowledge_relation_entity_deleted ON knowledge_entity",
    "DROP TRIGGER IF EXISTS knowledge_relation_entity_rekeyed ON knowledge_entity",
    "DROP TRIGGER IF EXISTS knowledge_relation_workspace_deleted ON core_workspace",
    "DROP TRIGGER IF EXISTS knowledge_relation_workspace_rekeyed ON core_workspace",
    "DROP TRIGGER IF EXISTS knowledge_relation_entity_truncated ON knowledge_entity",
    "DROP TRIGGER IF EXISTS knowledge_relation_workspace_truncated ON core_workspace",
    "DROP FUNCTION IF EXISTS knowledge_relation_check_references()",
    "DROP FUNCTION IF EXISTS knowledge_relation_entity_gone()",
    "DROP FUNCTION IF EXISTS knowledge_relation_workspace_gone()",
    "DROP FUNCTION IF EXISTS knowledge_relation_referenced_truncated()",
]
