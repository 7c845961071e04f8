"""The audit log: append-only in the database itself, and written by the core services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection, transaction

from core import services
from core.models import AuditEntry, Membership


@pytest.fixture
def entry(user, workspace) -> AuditEntry:
    return services.audit_record(
        actor=user,
        action="test.thing",
        object_type="tests.Thing",
        object_id=42,
        workspace_id=workspace.pk,
        changes={"colour": "blue"},
    )


def assert_unchanged(entry: AuditEntry) -> None:
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.action, stored.object_id, stored.changes) == ("test.thing", "42", {"colour": "blue"})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: AuditEntry.objects.filter(pk=e.pk).update(action="test.forged"), id="queryset-update"),
        pytest.param(lambda e: AuditEntry.objects.filter(pk=e.pk).delete(), id="queryset-delete"),
        pytest.param(lambda e: e.delete(), id="instance-delete"),
        pytest.param(lambda e: (setattr(e, "changes", {"colour": "red"}), e.save()), id="instance-save"),
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_entries(entry, change):
    with pytest.raises(DatabaseError, match="the audit log is append-only"), transaction.atomic():
        change(entry)
    assert_unchanged(entry)


@pytest.mark.django_db
def test_raw_sql_cannot_bypass_the_append_only_trigger(entry):
    for statement in (
        "UPDATE core_auditentry SET actor_repr = %s WHERE id = %s",
        "DELETE FROM core_auditentry WHERE id = %s AND actor_repr <> %s",
    ):
        params = ["mallory", entry.pk] if statement.startswith("UPDATE") else [entry.pk, "mallory"]
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
    assert_unchanged(entry)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = %s AND tgrelid = 'core_auditentry'::regclass",
            ["core_auditentry_append_only"],
        )
        assert cursor.fetchone() == ("O",)  # enabled (origin)


@pytest.mark.django_db
def test_entries_can_still_be_appended(entry):
    services.audit_record(actor=None, action="test.second", object_type="tests.Thing", object_id=42)
    assert list(AuditEntry.objects.filter(object_id="42").values_list("action", flat=True)) == [
        "test.second",
        "test.thing",
    ]  # newest first


@pytest.mark.django_db
def test_workspace_create_writes_an_entry_with_actor_and_workspace(user):
    workspace = services.workspace_create(name="  Quantum lab ", owner=user)
    entry = AuditEntry.objects.get(action="workspace.create")
    assert entry.workspace_id == workspace.pk
    assert entry.actor_id == user.pk
    assert entry.actor_repr == "alice"
    assert (entry.object_type, entry.object_id) == ("core.Workspace", str(workspace.pk))
    assert entry.changes == {"name": "Quantum lab"}
    assert entry.created_at is not None


@pytest.mark.django_db
def test_membership_add_and_change_write_entries(user, other_user, workspace):
    membership = services.membership_add(workspace=workspace, user=other_user, role="viewer", actor=user)
    services.membership_add(workspace=workspace, user=other_user, role="editor", actor=user)
    entries = list(AuditEntry.objects.filter(object_type="core.Membership").order_by("id"))
    assert [(e.action, e.changes) for e in entries] == [
        ("membership.add", {"user": "bob", "role": "viewer"}),
        ("membership.change", {"user": "bob", "role": "editor"}),
    ]
    for e in entries:
        assert (e.workspace_id, e.actor_id, e.actor_repr, e.object_id) == (
            workspace.pk,
            user.pk,
            "alice",
            str(membership.pk),
        )


@pytest.mark.django_db
def test_a_refused_service_call_writes_no_entry(user, other_user, workspace):
    before = AuditEntry.objects.count()
    with pytest.raises(ValueError, match="unknown role"):
        services.membership_add(workspace=workspace, user=other_user, role="emperor", actor=user)
    with pytest.raises(ValueError, match="needs a name"):
        services.workspace_create(name="   ", owner=user)
    assert AuditEntry.objects.count() == before
    assert not Membership.objects.filter(user=other_user).exists()


@pytest.mark.django_db
def test_entries_roll_back_with_the_callers_transaction(user):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.workspace_create(name="Ephemeral", owner=user)
        raise RuntimeError("caller fails")
    assert not AuditEntry.objects.filter(action="workspace.create").exists()


@pytest.mark.django_db
def test_audit_record_actor_forms_and_json_changes():
    anonymous = services.audit_record(actor=AnonymousUser(), action="a", object_type="t", object_id=1)
    system = services.audit_record(actor=None, action="a", object_type="t", object_id=2)
    assert (anonymous.actor_id, anonymous.actor_repr) == (None, "AnonymousUser")
    assert (system.actor_id, system.actor_repr) == (None, "")

    token = uuid.uuid4()
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = services.audit_record(
        actor=None, action="a", object_type="t", object_id=token, changes={"id": token, "at": at}
    )
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.object_id == str(token)
    assert stored.changes == {"id": str(token), "at": "2026-01-02T03:04:05Z"}


@pytest.mark.django_db
def test_workspace_rename_and_membership_remove_write_entries(user, other_user, workspace):
    services.membership_add(workspace=workspace, user=other_user, actor=user)
    services.workspace_rename(workspace=workspace, name="Renamed lab", actor=user)
    services.workspace_rename(workspace=workspace, name="Renamed lab", actor=user)  # no change, no entry
    assert services.membership_remove(workspace=workspace, user=other_user, actor=user) is True
    assert services.membership_remove(workspace=workspace, user=other_user, actor=user) is False

    workspace.refresh_from_db()
    assert workspace.name == "Renamed lab"
    assert not Membership.objects.filter(workspace=workspace, user=other_user).exists()
    entries = AuditEntry.objects.filter(workspace_id=workspace.pk).order_by("id")
    assert [e.action for e in entries][-2:] == ["workspace.rename", "membership.remove"]
    rename = entries.get(action="workspace.rename")
    assert rename.changes == {"name": ["Alice's lab", "Renamed lab"]} and rename.actor_id == user.pk
    with pytest.raises(ValueError):
        services.workspace_rename(workspace=workspace, name="  ", actor=user)
