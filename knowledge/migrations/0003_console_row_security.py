"""The Cypher console's role and the row-security policies on the graph's label tables
(knowledge/console_rls.py; idempotent: the console also adds them for labels created later)."""

from django.conf import settings
from django.db import migrations


def secure(apps, schema_editor):
    from knowledge import console_rls

    console_rls.ensure(settings.STRATA_GRAPH_NAME)


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_builtin_types"), ("core", "0001_initial")]
    operations = [migrations.RunPython(secure, migrations.RunPython.noop)]
