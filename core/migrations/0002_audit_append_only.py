from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION core_auditentry_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% on core_auditentry refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditentry_append_only
    BEFORE UPDATE OR DELETE ON core_auditentry
    FOR EACH ROW EXECUTE FUNCTION core_auditentry_forbid_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry;
DROP FUNCTION IF EXISTS core_auditentry_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunSQL(FORBID, ALLOW)]
