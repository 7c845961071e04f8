"""The admin enforces workspace roles (issue 6, defect 5): viewers read, editors write content,
owners manage members and the workspace. Every staff user here holds EVERY model permission of
the core and content apps, so only the workspace role can stop them, as in the issue's trial
(a viewer made himself owner, added a document and deleted one)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from content.models import Document
from content.services import IngestItem
from core import services
from core.models import Membership, OutboxEvent, Workspace
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db


def staff_member(django_user_model, username: str, workspace: Workspace | None, role: str | None):
    user = django_user_model.objects.create_user(username=username, password=f"pw-{username}-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["core", "content"]))
    if workspace is not None:
        services.membership_add(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def lab(user):
    """alice (the fixture user) owns the lab; it holds one document and one dead outbox event."""
    workspace = services.workspace_create(name="Lab", owner=user)
    ingest(workspace.pk, IngestItem("owl", "Barn owl", "Barn owls hunt voles."))
    OutboxEvent.objects.create(
        workspace_id=workspace.pk, event_type="test.audit", status=OutboxEvent.Status.DEAD, available_at=timezone.now()
    )
    return workspace


@pytest.fixture
def viewer(django_user_model, lab):
    return staff_member(django_user_model, "vera", lab, Membership.Role.VIEWER)


@pytest.fixture
def editor(django_user_model, lab):
    return staff_member(django_user_model, "eddie", lab, Membership.Role.EDITOR)


@pytest.fixture
def owner(django_user_model, lab):
    return staff_member(django_user_model, "olga", lab, Membership.Role.OWNER)


@pytest.fixture
def stranger(django_user_model):
    """staff in another workspace: must never appear in the lab's dropdowns."""
    elsewhere = services.workspace_create(name="Elsewhere", owner=django_user_model.objects.create_user("zed"))
    return staff_member(django_user_model, "sam", elsewhere, Membership.Role.EDITOR)


def membership(user, workspace) -> Membership:
    return Membership.objects.get(user=user, workspace=workspace)


def add_document(client, workspace, external_id="mouse"):
    return client.post(
        reverse("admin:content_document_add"),
        {
            "workspace": workspace.pk,
            "external_id": external_id,
            "title": "Mouse",
            "content_type": "text/plain",
            "text": "Mice are eaten by owls.",
            "metadata": "",
        },
    )


# ---------------------------------------------------------------- viewers read


def test_a_viewer_reads_documents_members_and_events(client, viewer, lab):
    client.force_login(viewer)
    doc = Document.objects.get(workspace=lab)
    for url in [
        reverse("admin:content_document_changelist"),
        reverse("admin:content_document_change", args=[doc.pk]),
        reverse("admin:core_membership_changelist"),
        reverse("admin:core_workspace_change", args=[lab.pk]),
        reverse("admin:core_outboxevent_changelist"),
    ]:
        assert client.get(url).status_code == 200, url


def test_a_viewer_cannot_make_himself_owner(client, viewer, lab):
    client.force_login(viewer)
    mine = membership(viewer, lab)
    url = reverse("admin:core_membership_change", args=[mine.pk])
    assert client.post(url, {"role": Membership.Role.OWNER}).status_code == 403
    assert membership(viewer, lab).role == Membership.Role.VIEWER
    # nor through the workspace's member inline
    response = client.post(
        reverse("admin:core_workspace_change", args=[lab.pk]),
        {
            "name": "Lab",
            "slug": lab.slug,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": mine.pk,
            "memberships-0-workspace": lab.pk,
            "memberships-0-user": viewer.pk,
            "memberships-0-role": Membership.Role.OWNER,
        },
    )
    assert response.status_code == 403
    assert membership(viewer, lab).role == Membership.Role.VIEWER


def test_a_viewer_cannot_add_members(client, viewer, lab, stranger):
    client.force_login(viewer)
    response = client.post(
        reverse("admin:core_membership_add"), {"user": stranger.pk, "workspace": lab.pk, "role": "owner"}
    )
    assert response.status_code in (200, 403)
    assert not Membership.objects.filter(user=stranger, workspace=lab).exists()


def test_a_viewer_cannot_add_or_delete_documents(client, viewer, lab):
    client.force_login(viewer)
    assert add_document(client, lab).status_code == 403
    assert not Document.objects.filter(external_id="mouse").exists()
    doc = Document.objects.get(workspace=lab)
    assert client.post(reverse("admin:content_document_delete", args=[doc.pk]), {"post": "yes"}).status_code == 403
    response = client.post(
        reverse("admin:content_document_changelist"),
        {"action": "delete_selected", "_selected_action": [doc.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    assert Document.objects.filter(pk=doc.pk).exists()
    client.post(
        reverse("admin:content_document_changelist"), {"action": "reembed_documents", "_selected_action": [doc.pk]}
    )
    assert not Document.objects.filter(pk=doc.pk, embedding_model="").exists()


def test_a_viewer_cannot_replay_events(client, viewer, lab):
    client.force_login(viewer)
    event = OutboxEvent.objects.get(workspace_id=lab.pk, status=OutboxEvent.Status.DEAD)
    client.post(
        reverse("admin:core_outboxevent_changelist"), {"action": "replay_events", "_selected_action": [event.pk]}
    )
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.Status.DEAD


# ---------------------------------------------------------------- editors write content


def test_an_editor_adds_and_deletes_documents(client, editor, lab):
    client.force_login(editor)
    response = add_document(client, lab)
    assert response.status_code == 302, response.content.decode()[:2000]
    mouse = Document.objects.get(workspace=lab, external_id="mouse")
    response = client.post(reverse("admin:content_document_delete", args=[mouse.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.filter(pk=mouse.pk).exists()


def test_an_editor_cannot_manage_members_or_the_workspace(client, editor, lab, viewer):
    client.force_login(editor)
    theirs = membership(viewer, lab)
    assert client.post(reverse("admin:core_membership_change", args=[theirs.pk]), {"role": "owner"}).status_code == 403
    assert client.post(reverse("admin:core_membership_delete", args=[theirs.pk]), {"post": "yes"}).status_code == 403
    mine = membership(editor, lab)
    assert client.post(reverse("admin:core_membership_change", args=[mine.pk]), {"role": "owner"}).status_code == 403
    response = client.post(
        reverse("admin:core_workspace_change", args=[lab.pk]),
        {"name": "Renamed", "slug": lab.slug, "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 403
    assert Workspace.objects.get(pk=lab.pk).name == "Lab"
    assert membership(viewer, lab).role == Membership.Role.VIEWER
    assert membership(editor, lab).role == Membership.Role.EDITOR


def test_an_editor_cannot_add_documents_to_a_workspace_where_he_is_a_viewer(client, django_user_model, editor, lab):
    other = services.workspace_create(name="Other", owner=django_user_model.objects.create_user("otto"))
    services.membership_add(workspace=other, user=editor, role=Membership.Role.VIEWER)
    client.force_login(editor)
    page = client.get(reverse("admin:content_document_add")).content.decode()
    assert f'value="{lab.pk}"' in page and f'value="{other.pk}"' not in page
    response = add_document(client, other)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Document.objects.filter(workspace=other).exists()


# ---------------------------------------------------------------- owners manage members


def test_an_owner_changes_roles_and_renames_the_workspace(client, owner, lab, viewer):
    client.force_login(owner)
    theirs = membership(viewer, lab)
    response = client.post(reverse("admin:core_membership_change", args=[theirs.pk]), {"role": "editor"})
    assert response.status_code == 302
    assert membership(viewer, lab).role == Membership.Role.EDITOR
    response = client.post(
        reverse("admin:core_workspace_change", args=[lab.pk]),
        {
            "name": "Renamed lab",
            "slug": lab.slug,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert Workspace.objects.get(pk=lab.pk).name == "Renamed lab"


def test_user_dropdowns_list_only_members_of_the_staff_users_workspaces(client, owner, lab, viewer, stranger):
    client.force_login(owner)
    for url in [reverse("admin:core_membership_add"), reverse("admin:core_workspace_change", args=[lab.pk])]:
        page = client.get(url).content.decode()
        options = set(re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page))
        usernames = {name for _, name in options}
        assert {"alice", "olga", "vera"} <= usernames, url
        assert "sam" not in usernames and "zed" not in usernames, url
