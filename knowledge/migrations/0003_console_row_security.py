"""The Cypher console's role and the row-security policies on the graph's label tables
(knowledge/console_rls.py; idempotent: the console also adds them for labels created later)."""

from django.conf import settings
from django.db import migrations


def secure(apps, schema_editor):
    from django.db import DatabaseError

    from knowledge import console_rls

    try:
        console_rls.ensure(settings.STRATA_GRAPH_NAME)
    except DatabaseError as exc:  # e.g. a database user without CREATEROLE: the console says so when used
        print(f"\n  the Cypher console's role was not created ({str(exc).strip()[:200]}); see the README")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_builtin_types"), ("core", "0001_initial")]
    operations = [migrations.RunPython(secure, migrations.RunPython.noop)]
