"""``knowledge_entity_aliased`` (the partial GIN index of entities' normalized aliases) without
GIN's pending list (``fastupdate = off``), as core.0009 did for the vector metadata index.

With ``fastupdate`` on (PostgreSQL's default) new aliases wait in an unsorted pending list until
a vacuum (or 4 MB of them) merges it into the index, and every lookup by alias (entity
resolution during extraction, graph-aware retrieval's seeds) reads the whole list: at 60,000
entities, 3,000 of them aliased just before, the alias half of the lookup took 1.9 ms instead of
0.03 ms. Off, each entity written with aliases adds its few entries to the index directly.

Online and safe on existing data: the reloption is a catalog change, and
``gin_clean_pending_list`` merges what is pending now. Reversible (fastupdate back on). The
model's index says ``fastupdate=False`` too (state only: the index is altered, not rebuilt).
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations
from django.db.models import Q

FORWARD = """
ALTER INDEX knowledge_entity_aliased SET (fastupdate = off);
SELECT gin_clean_pending_list('knowledge_entity_aliased');
"""

BACKWARD = "ALTER INDEX knowledge_entity_aliased SET (fastupdate = on);"


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0005_entity_alias_index_partial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.RemoveIndex(model_name="entity", name="knowledge_entity_aliased"),
                migrations.AddIndex(
                    model_name="entity",
                    index=GinIndex(
                        fields=["normalized_aliases"],
                        name="knowledge_entity_aliased",
                        condition=~Q(normalized_aliases=[]),
                        fastupdate=False,
                    ),
                ),
            ],
        )
    ]
