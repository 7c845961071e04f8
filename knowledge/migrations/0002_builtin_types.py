from django.db import migrations

BUILTIN_TYPES = ("person", "organisation", "product", "concept", "package", "place", "event")


def add_types(apps, schema_editor):
    EntityType = apps.get_model("knowledge", "EntityType")
    for name in BUILTIN_TYPES:
        EntityType.objects.get_or_create(workspace=None, name=name)


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]
    operations = [migrations.RunPython(add_types, migrations.RunPython.noop)]
