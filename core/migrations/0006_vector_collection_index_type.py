"""strata_vector_collection.index_type: existing collections keep their full-precision
``vector`` HNSW index ("vector"); new ones get the halfvec expression index (the adapter sets
the column). ``manage.py vector_reindex --index halfvec`` moves an existing collection over."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0005_storage_routes_and_moves")]

    operations = [
        migrations.AddField(
            model_name="vectorcollectionrecord",
            name="index_type",
            field=models.CharField(default="vector", max_length=20),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="vectorcollectionrecord",
            name="index_type",
            field=models.CharField(default="halfvec", max_length=20),
        ),
    ]
