from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0003_outbox_delivery_plural")]

    operations = [
        migrations.AddField(
            model_name="vectorcollectionrecord",
            name="indexed_fields",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
