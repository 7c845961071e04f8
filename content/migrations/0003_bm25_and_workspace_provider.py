"""BM25 full-text indexes (pg_textsearch, where the server preloads it) and the embedding provider
recorded per workspace."""

from django.db import migrations, models

# pg_textsearch 1.0 indexes plain columns only (no expression indexes; partial-index predicates are
# not applied), so there is one index per column for all workspaces; queries filter by workspace.
BM25_INDEXES = {
    "content_chunk_text_bm25": "CREATE INDEX IF NOT EXISTS content_chunk_text_bm25 ON content_chunk "
    "USING bm25 (text) WITH (text_config = 'english')",
    "content_document_title_bm25": "CREATE INDEX IF NOT EXISTS content_document_title_bm25 ON content_document "
    "USING bm25 (title) WITH (text_config = 'english')",
}


def create_bm25_indexes(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pg_textsearch.library_version', true) IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # full-text ranking falls back to ts_rank_cd; strata_status says so
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_textsearch")
        for statement in BM25_INDEXES.values():
            cursor.execute(statement)


def drop_bm25_indexes(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in BM25_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


def infer_providers(apps, schema_editor):
    WorkspaceEmbedding = apps.get_model("content", "WorkspaceEmbedding")
    WorkspaceEmbedding.objects.filter(model="hashing-1536-v1").update(provider="hashing")
    WorkspaceEmbedding.objects.filter(model="sentence-transformers/all-MiniLM-L6-v2").update(
        provider="sentence-transformers"
    )
    WorkspaceEmbedding.objects.filter(provider="").update(provider="openai")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX on a populated table: keep it out of one long transaction

    dependencies = [("content", "0002_content_version")]

    operations = [
        # varchar -> text is binary compatible: no table rewrite
        migrations.AlterField(model_name="document", name="title", field=models.TextField(max_length=500)),
        migrations.RunPython(create_bm25_indexes, drop_bm25_indexes),
        migrations.AddField(
            model_name="workspaceembedding",
            name="provider",
            field=models.CharField(blank=True, default="", max_length=50),
            preserve_default=False,
        ),
        migrations.RunPython(infer_providers, migrations.RunPython.noop),
    ]
