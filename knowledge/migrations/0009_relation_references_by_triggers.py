"""knowledge_relation's three foreign keys (workspace, source and target entity) become triggers
that check them set-based, once per statement (knowledge/integrity.py): the columns, indexes and
the ORM's cascades stay. No table rewrite and no validation scan: dropping the constraints and
adding the triggers take brief locks. Reversible: the triggers go, the foreign keys come back
(validated, DEFERRABLE INITIALLY DEFERRED as before)."""

import django.db.models.deletion
from django.db import migrations, models

from knowledge import integrity


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0010_outbox_priority"),
        ("knowledge", "0008_relation_evidence_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="relation",
            name="source_entity",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="knowledge.entity",
            ),
        ),
        migrations.AlterField(
            model_name="relation",
            name="target_entity",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="knowledge.entity",
            ),
        ),
        migrations.AlterField(
            model_name="relation",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="core.workspace",
            ),
        ),
        # last, so that going back drops the triggers before the foreign keys return
        migrations.RunSQL(integrity.CREATE, integrity.DROP),
    ]
