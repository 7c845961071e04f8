"""The admin keeps staff inside their workspaces and keeps the logs read-only."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from core import services
from core.admin_mixins import WorkspaceScopedAdmin
from core.models import (
    AuditEntry,
    DocumentCollection,
    DocumentRecord,
    Membership,
    OutboxDelivery,
    OutboxEvent,
    VectorCollectionRecord,
    VectorRecord,
    Workspace,
)

pytestmark = pytest.mark.django_db

STAFF_PERMISSIONS = [
    "view_workspace",
    "add_workspace",
    "change_workspace",
    "delete_workspace",
    "view_membership",
    "add_membership",
    "change_membership",
    "delete_membership",
    "view_auditentry",
    "change_auditentry",
    "delete_auditentry",
    "view_outboxevent",
    "change_outboxevent",
    "view_outboxdelivery",
    # granted on purpose: the adapter tables must stay hidden from non-superusers anyway
    "view_documentcollection",
    "view_documentrecord",
    "view_vectorcollectionrecord",
    "view_vectorrecord",
]
ADAPTER_MODELS = ["documentcollection", "documentrecord", "vectorcollectionrecord", "vectorrecord"]


def _grant(user, codenames):
    perms = Permission.objects.filter(content_type__app_label="core", codename__in=codenames)
    assert perms.count() == len(codenames)
    user.user_permissions.add(*perms)


def _event(workspace_id, event_type, status=OutboxEvent.Status.PENDING, **fields):
    return OutboxEvent.objects.create(
        workspace_id=workspace_id, event_type=event_type, status=status, available_at=timezone.now(), **fields
    )


@pytest.fixture
def staff(user, workspace):
    """alice: staff, not superuser, owner of workspace A, with model permissions on everything."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    _grant(user, STAFF_PERMISSIONS)
    return user


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123")


@pytest.fixture
def carol(django_user_model, user):
    """carol shares a workspace with alice (else alice's user dropdowns would not offer her)."""
    carol = django_user_model.objects.create_user(username="carol", password="pw-carol-123")
    shared = services.workspace_create(name="Shared", owner=user)
    services.membership_add(workspace=shared, user=carol, role=Membership.Role.VIEWER)
    return carol


@pytest.fixture
def rows(user, other_user, workspace, other_workspace):
    """One row of each workspace-owned kind in A (alpha) and in B (bravo)."""
    made = {}
    for tag, ws, actor in (("alpha", workspace, user), ("bravo", other_workspace, other_user)):
        audit = services.audit_record(
            actor=actor, action="note.add", object_type="test.Note", object_id=f"{tag}-marker", workspace_id=ws.pk
        )
        event = _event(ws.pk, f"test.{tag}")
        delivery = OutboxDelivery.objects.create(event=event, handler=f"{tag}.handler")
        membership = Membership.objects.get(workspace=ws)
        made[tag] = {"workspace": ws, "audit": audit, "event": event, "delivery": delivery, "membership": membership}
    return made


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:core_{model}_{view}", args=args)


@pytest.mark.parametrize(
    ("model", "mine", "theirs"),
    [
        ("workspace", "Alice&#x27;s lab", "Bob&#x27;s lab"),
        ("membership", "Alice&#x27;s lab", "Bob&#x27;s lab"),
        ("auditentry", "alpha-marker", "bravo-marker"),
        ("outboxevent", "test.alpha", "test.bravo"),
        ("outboxdelivery", "alpha.handler", "bravo.handler"),
    ],
)
def test_staff_changelists_show_only_their_workspaces(client, staff, rows, model, mine, theirs):
    client.force_login(staff)
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert mine in html
    assert theirs not in html  # neither in the rows nor in the list filters


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("workspace", "workspace"),
        ("membership", "membership"),
        ("auditentry", "audit"),
        ("outboxevent", "event"),
        ("outboxdelivery", "delivery"),
    ],
)
def test_staff_cannot_open_rows_of_other_workspaces_by_url(client, staff, rows, model, key):
    client.force_login(staff)
    own = client.get(_url(model, "change", rows["alpha"][key].pk))
    assert own.status_code == 200

    other = client.get(_url(model, "change", rows["bravo"][key].pk))
    assert other.status_code in (302, 403, 404)
    if other.status_code == 302:
        assert other["Location"] == reverse("admin:index")  # "does not exist" redirect


def test_staff_cannot_change_or_delete_another_workspace(client, staff, rows):
    client.force_login(staff)
    theirs = rows["bravo"]["workspace"]

    client.post(_url("workspace", "change", theirs.pk), {"name": "Taken over", "slug": theirs.slug})
    client.post(_url("workspace", "delete", theirs.pk), {"post": "yes"})
    client.post(
        _url("workspace", "changelist"),
        {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"},
    )

    theirs.refresh_from_db()
    assert theirs.name == "Bob's lab"


def test_staff_can_pick_only_their_workspaces_in_forms(client, staff, rows, carol):
    client.force_login(staff)
    mine, theirs = rows["alpha"]["workspace"], rows["bravo"]["workspace"]

    form = client.get(_url("membership", "add")).content.decode()
    choices = re.search(r'<select name="workspace".*?</select>', form, re.S).group(0)
    assert f'<option value="{mine.pk}">' in choices
    assert f'<option value="{theirs.pk}"' not in choices

    refused = client.post(_url("membership", "add"), {"user": carol.pk, "workspace": theirs.pk, "role": "viewer"})
    assert refused.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in refused.content.decode()
    assert not Membership.objects.filter(user=carol, workspace=theirs).exists()

    accepted = client.post(_url("membership", "add"), {"user": carol.pk, "workspace": mine.pk, "role": "viewer"})
    assert accepted.status_code == 302
    membership = Membership.objects.get(user=carol, workspace=mine)
    assert (membership.workspace_id, membership.role) == (mine.pk, "viewer")
    # written through core.services: the audit log names the staff user
    entry = AuditEntry.objects.get(action="membership.add", object_id=str(membership.pk))
    assert (entry.actor_id, entry.workspace_id) == (staff.pk, mine.pk)


def test_workspace_created_in_admin_goes_through_the_service(client, staff, carol):
    client.force_login(staff)
    response = client.post(
        _url("workspace", "add"),
        {
            "name": "Made in admin",
            "slug": "made-in-admin",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": str(carol.pk),
            "memberships-0-role": "viewer",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    created = Workspace.objects.get(slug="made-in-admin")
    roles = dict(Membership.objects.filter(workspace=created).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "carol": "viewer"}
    actions = set(AuditEntry.objects.filter(workspace_id=created.pk).values_list("action", flat=True))
    assert actions == {"workspace.create", "membership.add"}

    # change carol's role in the inline: membership_add records a change
    carol_row = Membership.objects.get(workspace=created, user=carol)
    alice_row = Membership.objects.get(workspace=created, user=staff)
    response = client.post(
        _url("workspace", "change", created.pk),
        {
            "name": "Made in admin",
            "slug": "made-in-admin",
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "2",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(alice_row.pk),
            "memberships-0-workspace": str(created.pk),
            "memberships-0-user": str(staff.pk),
            "memberships-0-role": "owner",
            "memberships-1-id": str(carol_row.pk),
            "memberships-1-workspace": str(created.pk),
            "memberships-1-user": str(carol.pk),
            "memberships-1-role": "editor",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    carol_row.refresh_from_db()
    assert carol_row.role == "editor"
    assert AuditEntry.objects.filter(workspace_id=created.pk, action="membership.change").count() == 1


def test_audit_entries_cannot_be_added_changed_or_deleted(client, superuser, rows):
    entry = rows["alpha"]["audit"]
    client.force_login(superuser)

    assert client.get(_url("auditentry", "add")).status_code == 403
    page = client.get(_url("auditentry", "change", entry.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # view only
    assert client.post(_url("auditentry", "change", entry.pk), {"action": "tampered"}).status_code == 403
    assert client.get(_url("auditentry", "delete", entry.pk)).status_code == 403
    assert client.post(_url("auditentry", "delete", entry.pk), {"post": "yes"}).status_code == 403
    changelist = client.get(_url("auditentry", "changelist")).content.decode()
    assert "delete_selected" not in changelist
    client.post(
        _url("auditentry", "changelist"), {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )

    entry.refresh_from_db()
    assert entry.action == "note.add"


def test_audit_changelist_filters_and_search(client, superuser, rows):
    client.force_login(superuser)
    html = client.get(_url("auditentry", "changelist"), {"q": "alpha-marker"}).content.decode()
    assert "alpha-marker" in html and "bravo-marker" not in html
    html = client.get(_url("auditentry", "changelist"), {"action": "workspace.create"}).content.decode()
    assert "alpha-marker" not in html and "workspace.create" in html
    html = client.get(_url("auditentry", "changelist"), {"object_type": "test.Note"}).content.decode()
    assert "alpha-marker" in html and "bravo-marker" in html  # superusers see every workspace


def test_adapter_tables_are_hidden_from_non_superusers(client, staff):
    client.force_login(staff)
    index = client.get(reverse("admin:index")).content.decode()
    assert _url("workspace", "changelist") in index
    for model in ADAPTER_MODELS:
        assert _url(model, "changelist") not in index
        assert client.get(_url(model, "changelist")).status_code == 403


def test_adapter_tables_are_read_only_for_superusers(client, superuser):
    client.force_login(superuser)
    for model in ADAPTER_MODELS:
        assert client.get(_url(model, "changelist")).status_code == 200
        assert client.get(_url(model, "add")).status_code == 403


def test_document_record_body_is_pretty_printed_and_escaped(client, superuser):
    collection = DocumentCollection.objects.create(name="test.docs")
    record = DocumentRecord.objects.create(collection=collection, key="d1", body={"z": 1, "a": {"x": "<script>"}})
    client.force_login(superuser)

    html = client.get(_url("documentrecord", "change", record.pk)).content.decode()

    assert "{\n  &quot;a&quot;: {\n    &quot;x&quot;: &quot;&lt;script&gt;&quot;\n  },\n  &quot;z&quot;: 1\n}" in html
    assert 'name="_save"' not in html


def test_vector_record_shows_dimension_and_preview_not_the_whole_embedding(client, superuser):
    collection = VectorCollectionRecord.objects.create(name="test.vectors", dimension=1536, model="test-model")
    embedding = np.full(1536, 0.25, dtype=np.float32)
    embedding[700] = 0.987654
    record = VectorRecord.objects.create(collection=collection, key="v1", embedding=embedding, metadata={"m": "<b>"})
    client.force_login(superuser)

    listing = client.get(_url("vectorrecord", "changelist")).content.decode()
    assert "1536" in listing
    html = client.get(_url("vectorrecord", "change", record.pk)).content.decode()

    assert "[0.2500, 0.2500, 0.2500, 0.2500, 0.2500, 0.2500, 0.2500, 0.2500, ...] (1536 values)" in html
    assert "0.98765" not in html
    assert html.count("0.25") < 20
    assert "&quot;m&quot;: &quot;&lt;b&gt;&quot;" in html


def test_dead_letters_are_one_filter_away(client, staff, workspace):
    _event(workspace.pk, "test.dead", OutboxEvent.Status.DEAD, attempts=8, last_error="Boom: handler failed")
    _event(workspace.pk, "test.waiting")
    client.force_login(staff)

    html = client.get(_url("outboxevent", "changelist")).content.decode()
    assert "?status__exact=dead" in html
    page = client.get(_url("outboxevent", "changelist"), {"status__exact": "dead"}).content.decode()
    results = re.search(r'<table id="result_list">.*?</table>', page, re.S).group(0)
    assert "test.dead" in results and "Boom: handler failed" in results
    assert "test.waiting" not in results


def test_replay_action_requeues_dead_events_in_the_users_workspaces(client, staff, workspace, other_workspace):
    mine = _event(workspace.pk, "test.dead", OutboxEvent.Status.DEAD, attempts=8, last_error="boom")
    theirs = _event(other_workspace.pk, "test.dead", OutboxEvent.Status.DEAD, attempts=8, last_error="boom")
    client.force_login(staff)

    response = client.post(
        _url("outboxevent", "changelist"),
        {"action": "replay_events", "_selected_action": [str(mine.pk), str(theirs.pk)], "index": "0"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Requeued 1 of 1 selected event(s)" in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.attempts) == (OutboxEvent.Status.PENDING, 0)
    assert mine.available_at <= timezone.now()
    assert (theirs.status, theirs.attempts) == (OutboxEvent.Status.DEAD, 8)  # outside alice's workspaces


def test_replay_action_needs_the_change_permission(client, user, workspace):
    dead = _event(workspace.pk, "test.dead", OutboxEvent.Status.DEAD, attempts=8)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    _grant(user, ["view_outboxevent"])
    client.force_login(user)

    assert "replay_events" not in client.get(_url("outboxevent", "changelist")).content.decode()
    client.post(_url("outboxevent", "changelist"), {"action": "replay_events", "_selected_action": [str(dead.pk)]})

    dead.refresh_from_db()
    assert dead.status == OutboxEvent.Status.DEAD


def test_outbox_events_are_read_only(client, superuser, workspace):
    event = _event(workspace.pk, "test.readonly", payload={"k": "<i>v</i>"})
    client.force_login(superuser)

    assert client.get(_url("outboxevent", "add")).status_code == 403
    page = client.get(_url("outboxevent", "change", event.pk)).content.decode()
    assert "&quot;k&quot;: &quot;&lt;i&gt;v&lt;/i&gt;&quot;" in page
    assert client.post(_url("outboxevent", "change", event.pk), {"status": "delivered"}).status_code == 403
    assert client.post(_url("outboxevent", "delete", event.pk), {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.PENDING


def test_scoped_admin_offers_only_member_workspaces_for_a_plain_workspace_id_column(rf, staff, rows):
    class ScopedAuditAdmin(WorkspaceScopedAdmin):
        workspace_field = "workspace_id"
        fields = ("workspace_id", "action", "object_type", "object_id")

    request = rf.get("/")
    request.user = staff
    form_class = ScopedAuditAdmin(AuditEntry, admin.site).get_form(request)
    mine, theirs = rows["alpha"]["workspace"], rows["bravo"]["workspace"]

    # no empty choice although the column is nullable: only superusers write rows of no workspace
    assert [value for value, _ in form_class.base_fields["workspace_id"].choices] == [mine.pk]
    data = {"action": "x", "object_type": "y", "object_id": "1"}
    assert not form_class(data={**data, "workspace_id": str(theirs.pk)}).is_valid()
    assert not form_class(data={**data, "workspace_id": ""}).is_valid()
    form = form_class(data={**data, "workspace_id": str(mine.pk)})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["workspace_id"] == mine.pk
