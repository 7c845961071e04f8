from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0002_audit_append_only")]

    operations = [
        migrations.AddField(
            model_name="vectorcollectionrecord",
            name="indexed_fields",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
