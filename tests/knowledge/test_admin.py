"""The knowledge admin: scoped to the user's workspaces, read-only rows, and the merge, undo and
re-extract actions going through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from core.models import AuditEntry, OutboxEvent
from knowledge.handlers import EVENT_EXTRACT_REQUESTED
from knowledge.models import Entity, ExtractionRun
from tests.knowledge.graphs import build
from tests.knowledge.helpers import doc, drain, graph_edges, ingest

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:knowledge_entity_changelist"


@pytest.fixture
def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="knowledge"))
    return user


@pytest.fixture
def graphs(workspace, other_workspace):
    assert not build(workspace.id, edges=[("a", "c"), ("b", "c")]).errors
    assert not build(other_workspace.id, edges=[("a", "secret")]).errors


def test_entities_are_scoped_and_read_only(client, staff, graphs, other_workspace):
    client.force_login(staff)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "secret" not in page.content.decode()
    theirs = Entity.objects.get(workspace=other_workspace, key="secret")
    assert client.get(reverse("admin:knowledge_entity_change", args=[theirs.pk])).status_code in (302, 403, 404)
    mine = Entity.objects.get(key="a", workspace__slug=staff.memberships.first().workspace.slug)
    assert client.get(reverse("admin:knowledge_entity_delete", args=[mine.pk])).status_code == 403


def test_merge_and_undo_actions(client, staff, workspace, other_workspace, graphs):
    client.force_login(staff)
    a, b = (Entity.objects.get(workspace=workspace, key=k) for k in "ab")
    theirs = Entity.objects.get(workspace=other_workspace, key="a")
    answer = client.post(
        reverse(CHANGELIST), {"action": "merge_into_oldest", "_selected_action": [a.pk, b.pk, theirs.pk]}, follow=True
    )
    assert answer.status_code == 200 and "Merged 1 entity" in answer.content.decode()
    drain()
    assert graph_edges(workspace.id) == {("DEPENDS_ON", "a", "c")}
    assert Entity.objects.get(pk=theirs.pk).merged_into is None
    assert AuditEntry.objects.filter(action="knowledge.entity.merge", actor_id=staff.pk).count() == 1
    client.post(reverse(CHANGELIST), {"action": "undo_merge", "_selected_action": [b.pk]}, follow=True)
    drain()
    assert graph_edges(workspace.id) == {("DEPENDS_ON", "a", "c"), ("DEPENDS_ON", "b", "c")}


def test_viewers_cannot_merge(client, staff, workspace, other_workspace, other_user, graphs):
    from core import services as core_services

    core_services.membership_add(workspace=other_workspace, user=staff, role="viewer")
    client.force_login(staff)
    x, y = (Entity.objects.get(workspace=other_workspace, key=k) for k in ("a", "secret"))
    client.post(reverse(CHANGELIST), {"action": "merge_into_oldest", "_selected_action": [x.pk, y.pk]}, follow=True)
    assert not Entity.objects.filter(workspace=other_workspace).exclude(merged_into=None).exists()


def test_reextract_action(client, staff, workspace, structured_only):
    ids = ingest(workspace.id, doc("r.md", "x", name="r", depends=["s"]))
    drain()
    client.force_login(staff)
    run = ExtractionRun.objects.get(document_id=ids["r.md"])
    client.post(
        reverse("admin:knowledge_extractionrun_changelist"), {"action": "reextract", "_selected_action": [run.pk]}
    )
    event = OutboxEvent.objects.get(event_type=EVENT_EXTRACT_REQUESTED)
    assert event.payload["document_ids"] == [ids["r.md"]]
    drain()
    assert ExtractionRun.objects.get(pk=run.pk).updated_at > run.updated_at  # extracted again, even unchanged


def test_the_type_filter_lists_no_other_workspaces_types(client, staff, graphs, other_workspace, other_user):
    # the changelist's "By type" filter once listed every workspace's own entity types
    from knowledge import services as knowledge_services

    knowledge_services.entity_type_create(workspace_id=other_workspace.id, name="zeppelinclass", actor=other_user)
    client.force_login(staff)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "zeppelinclass" not in page.content.decode()
    assert client.get(reverse(CHANGELIST), {"type__id__exact": "1"}).status_code == 200


def test_a_viewer_neither_re_extracts_nor_undoes_merges(client, django_user_model, user, workspace, structured_only):
    from core import services as core_services
    from knowledge import services as knowledge_services

    ids = ingest(workspace.id, doc("r.md", "x", name="r", depends=["s", "t"]))
    drain()
    s, t = (Entity.objects.get(workspace=workspace, key=k) for k in "st")
    knowledge_services.entities_merge_into(workspace_id=workspace.id, keep_id=s.pk, merge_ids=[t.pk], actor=user)
    drain()
    vera = django_user_model.objects.create_user(username="vera", password="pw-vera-123", is_staff=True)
    vera.user_permissions.add(*Permission.objects.filter(content_type__app_label="knowledge"))
    core_services.membership_add(workspace=workspace, user=vera, role="viewer")
    client.force_login(vera)
    run = ExtractionRun.objects.get(document_id=ids["r.md"])
    before = OutboxEvent.objects.count()
    client.post(
        reverse("admin:knowledge_extractionrun_changelist"), {"action": "reextract", "_selected_action": [run.pk]}
    )
    client.post(reverse(CHANGELIST), {"action": "reextract_mentioning", "_selected_action": [s.pk]})
    client.post(reverse(CHANGELIST), {"action": "undo_merge", "_selected_action": [t.pk]})
    assert not OutboxEvent.objects.filter(event_type=EVENT_EXTRACT_REQUESTED).exists()
    assert Entity.objects.get(pk=t.pk).merged_into_id == s.pk
    assert OutboxEvent.objects.count() == before


def test_a_staff_user_adds_types_to_his_workspaces_only(client, staff, workspace, other_workspace):
    # the type's workspace may be empty in the model (the built-in types): only superusers add those
    from knowledge.pages import entity_types

    client.force_login(staff)
    url = reverse("admin:knowledge_entitytype_add")
    client.post(url, {"workspace": "", "name": "everywhere", "description": ""})
    client.post(url, {"workspace": str(other_workspace.pk), "name": "theirs", "description": ""})
    assert "everywhere" not in entity_types(workspace_id=other_workspace.id)
    assert "theirs" not in entity_types(workspace_id=other_workspace.id)
    client.post(url, {"workspace": str(workspace.pk), "name": "mine", "description": ""})
    assert "mine" in entity_types(workspace_id=workspace.id)
