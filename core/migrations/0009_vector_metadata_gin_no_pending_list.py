"""``strata_vector_metadata_gin`` without GIN's pending list (``fastupdate = off``).

With ``fastupdate`` on (PostgreSQL's default) new rows' metadata entries wait in an unsorted
pending list until a vacuum (or 4 MB of them) merges it into the index, and every scan of the
index reads the whole list: after a 100,000-vector load, each filtered search (its capped count
and its exact branch, two GIN scans each) spent 10-15 ms of CPU on it, more than the search
itself (a 0.1% filter took 16 ms of CPU instead of about 1). Off, each insert adds its few
entries to the index directly (microseconds, against the milliseconds of its HNSW insert).

Online and safe on existing data: the reloption is a catalog change, and
``gin_clean_pending_list`` merges what is pending now (the same work a vacuum would do) while
reads and writes go on. Reversible (fastupdate back on). The model's index says
``fastupdate=False`` too (state only: the index is altered, not rebuilt).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations

FORWARD = """
ALTER INDEX strata_vector_metadata_gin SET (fastupdate = off);
SELECT gin_clean_pending_list('strata_vector_metadata_gin');
"""

BACKWARD = "ALTER INDEX strata_vector_metadata_gin SET (fastupdate = on);"


class Migration(migrations.Migration):
    dependencies = [("core", "0008_vector_embedding_inline")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.RemoveIndex(model_name="vectorrecord", name="strata_vector_metadata_gin"),
                migrations.AddIndex(
                    model_name="vectorrecord",
                    index=GinIndex(
                        OpClass("metadata", name="jsonb_path_ops"), name="strata_vector_metadata_gin", fastupdate=False
                    ),
                ),
            ],
        )
    ]
