"""The outbox's claim priority (STRATA_OUTBOX_PRIORITIES) and the partial index the relay's
claim (``ORDER BY priority, available_at`` over pending events) reads, built concurrently: the
outbox keeps delivered events, and a plain CREATE INDEX would block every publish meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0009_vector_metadata_gin_no_pending_list"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="priority",
            # db_default: a process still running the old code inserts events without it
            field=models.SmallIntegerField(default=0, db_default=0),
        ),
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["priority", "available_at"],
                name="core_outbox_claim_idx",
            ),
        ),
    ]
