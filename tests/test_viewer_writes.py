"""A viewer (here a staff user holding every model permission, so only the workspace role can
stop them) reads the workspace's pages but writes nothing through them: no upload, no agent, no
Cypher console; a workspace they are not a member of cannot be switched to."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents.models import Agent
from content.models import Document
from core import services
from core.models import Membership
from core.permissions import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model, workspace):
    vera = django_user_model.objects.create_user(username="vera", password="pw-vera-123", is_staff=True)
    vera.user_permissions.add(*Permission.objects.all())
    services.membership_add(workspace=workspace, user=vera, role=Membership.Role.VIEWER)
    return vera


def test_a_viewer_writes_nothing_through_the_pages(client, viewer, workspace, other_workspace):
    client.force_login(viewer)
    assert client.get(reverse("content:document-list")).status_code == 200  # reads
    upload = SimpleUploadedFile("a.txt", b"hello", content_type="text/plain")
    assert client.post(reverse("content:document-list"), {"files": [upload]}).status_code == 403
    agent = {"name": "Mine", "search_mode": "hybrid", "llm_backend": "default"}
    assert client.post(reverse("agents:agent-list"), agent).status_code == 403
    assert client.get(reverse("knowledge:console")).status_code == 403
    query = {"query": "MATCH (n) RETURN n", "params": "{}"}
    assert client.post(reverse("knowledge:console"), query).status_code == 403
    assert not Document.objects.filter(workspace=workspace).exists()
    assert not Agent.objects.filter(workspace=workspace).exists()
    client.post(reverse("workspace-switch"), {"workspace": str(other_workspace.pk)})
    assert client.session.get(SESSION_KEY) != other_workspace.pk
    assert client.get(reverse("home")).context["workspace"] == workspace
