"""Per-workspace BM25 tables (``content.bm25_workspaces``) follow the chunks and document titles.

The tables are created later, per workspace (``fulltext_index``, or a task after the workspace's
first ingest); until then these triggers find no table and do nothing. Once a workspace has them,
every insert, update and delete of its chunks and titles reaches them in the same transaction,
whatever wrote the row (ingest, re-ingest, document or workspace deletion)."""

from django.db import migrations

SYNC = """
CREATE OR REPLACE FUNCTION content_bm25_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target regclass;
BEGIN
    -- TG_ARGV[0]: 'chunk' (column text) or 'title' (column title); the table of workspace N is
    -- content_bm25_<kind>_w<N>, created by content.bm25_workspaces.ensure().
    IF TG_OP <> 'INSERT' THEN
        target := to_regclass(format('content_bm25_%s_w%s', TG_ARGV[0], OLD.workspace_id));
        IF target IS NOT NULL THEN
            EXECUTE format('DELETE FROM %s WHERE id = $1', target) USING OLD.id;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        target := to_regclass(format('content_bm25_%s_w%s', TG_ARGV[0], NEW.workspace_id));
        IF target IS NOT NULL THEN
            IF TG_ARGV[0] = 'chunk' THEN
                EXECUTE format('INSERT INTO %s (id, document_id, body) VALUES ($1, $2, $3)', target)
                    USING NEW.id, NEW.document_id, NEW.text;
            ELSE
                EXECUTE format('INSERT INTO %s (id, body) VALUES ($1, $2)', target) USING NEW.id, NEW.title;
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_chunk_bm25_sync AFTER INSERT OR DELETE OR UPDATE OF text, document_id, workspace_id
    ON content_chunk FOR EACH ROW EXECUTE FUNCTION content_bm25_sync('chunk');
CREATE TRIGGER content_document_bm25_sync AFTER INSERT OR DELETE OR UPDATE OF title, workspace_id
    ON content_document FOR EACH ROW EXECUTE FUNCTION content_bm25_sync('title');
"""

UNSYNC = """
DROP TRIGGER IF EXISTS content_chunk_bm25_sync ON content_chunk;
DROP TRIGGER IF EXISTS content_document_bm25_sync ON content_document;
DROP FUNCTION IF EXISTS content_bm25_sync();
"""


class Migration(migrations.Migration):
    dependencies = [("content", "0004_document_source")]

    operations = [migrations.RunSQL(SYNC, UNSYNC)]
