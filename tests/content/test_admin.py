"""The content admin: workspace scoping, the add form through the ingest service, the delete
and re-embed actions through the services, the metadata filter and the read-only chunks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from content import stores
from content.embeddings import get_embedder
from content.models import Chunk, Document
from content.services import IngestItem
from core.models import AuditEntry
from core.storage.ports import NodeRef
from tests.content.helpers import ingest, projected

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:content_document_changelist"


@pytest.fixture
def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    codenames = ["add_document", "change_document", "delete_document", "view_document", "view_chunk"]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="content", codename__in=codenames))
    return user


@pytest.fixture
def docs(workspace, other_workspace) -> dict[str, int]:
    ids = ingest(
        workspace.pk,
        IngestItem(
            "owl",
            "Barn owl",
            "Barn owls hunt <b>voles</b> at night & rarely hoot.",
            metadata={"order": "Strigiformes", "colour": "white", "html": "<script>x()</script>"},
        ),
        IngestItem("kite", "Red kite", "Red kites soar over fields.", metadata={"order": "Accipitriformes"}),
    )
    ids |= {
        f"other:{k}": v
        for k, v in ingest(
            other_workspace.pk, IngestItem("bob-owl", "Bob's owl", "Owl notes.", metadata={"order": "Strigiformes"})
        ).items()
    }
    return ids


def in_every_store(workspace_id: int, document_id: int) -> dict[str, bool]:
    model = get_embedder().model
    projected()
    return {
        "row": Document.objects.filter(pk=document_id).exists(),
        "chunks": Chunk.objects.filter(document_id=document_id).exists(),
        "body": stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document_id)) is not None,
        "vectors": stores.vectors().count(
            stores.chunk_collection(workspace_id=workspace_id, model=model), filter={"document_id": document_id}
        )
        > 0,
        "graph": stores.graph().get_node(NodeRef(stores.GRAPH_LABEL, str(document_id))) is not None,
    }


def test_changelist_is_scoped_to_the_users_workspaces(client, staff, docs):
    client.force_login(staff)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Barn owl" in html and "Red kite" in html
    assert "Bob&#x27;s owl" not in html
    # another workspace's document cannot be opened, and a search does not reveal it
    other = client.get(reverse("admin:content_document_change", args=[docs["other:bob-owl"]]))
    assert other.status_code == 302 and "Bob" not in other.content.decode()
    assert "Bob&#x27;s owl" not in client.get(reverse(CHANGELIST), {"q": "owl"}).content.decode()


def test_a_superuser_sees_every_workspace(client, admin_user, docs):
    client.force_login(admin_user)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "Barn owl" in html and "Bob&#x27;s owl" in html


def test_search_and_list_filters(client, staff, docs):
    client.force_login(staff)
    html = client.get(reverse(CHANGELIST), {"q": "kite"}).content.decode()
    assert "Red kite" in html and "Barn owl" not in html
    html = client.get(reverse(CHANGELIST), {"status__exact": "ready"}).content.decode()
    assert "Red kite" in html


@pytest.mark.parametrize(
    "value, expected",
    [
        ("order=Strigiformes", {"Barn owl"}),
        ('{"order": "Accipitriformes"}', {"Red kite"}),
        ("order=Strigiformes, colour=white", {"Barn owl"}),
        ("colour=black", set()),
    ],
)
def test_metadata_filter_reads_the_document_store(client, staff, docs, value, expected):
    client.force_login(staff)
    response = client.get(reverse(CHANGELIST), {"metadata": value})
    assert response.status_code == 200
    shown = {d.title for d in response.context["cl"].result_list}
    assert shown == expected  # Bob's Strigiformes owl is never among them


def test_metadata_filter_with_invalid_json_is_refused(client, staff, docs):
    client.force_login(staff)
    response = client.get(reverse(CHANGELIST), {"metadata": '{"order": '})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_change_page_is_read_only_and_shows_the_escaped_json_body(client, staff, docs):
    client.force_login(staff)
    response = client.get(reverse("admin:content_document_change", args=[docs["owl"]]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "&quot;order&quot;: &quot;Strigiformes&quot;" in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script>x()" not in html
    assert "&lt;b&gt;voles&lt;/b&gt;" in html
    assert 'name="_save"' not in html  # documents change through ingest only
    before = Document.objects.get(pk=docs["owl"]).title
    client.post(reverse("admin:content_document_change", args=[docs["owl"]]), {"title": "Hacked"})
    assert Document.objects.get(pk=docs["owl"]).title == before


def test_add_form_creates_the_document_through_the_ingest_service(client, staff, workspace):
    client.force_login(staff)
    page = client.get(reverse("admin:content_document_add"))
    assert page.status_code == 200 and 'name="metadata"' in page.content.decode()
    response = client.post(
        reverse("admin:content_document_add"),
        {
            "workspace": workspace.pk,
            "external_id": "swift-1",
            "title": "Common swift",
            "content_type": "text/plain",
            "source": "",
            "text": "Swifts sleep on the wing.",
            "metadata": '{"order": "Apodiformes"}',
            "embed": "on",
        },
    )
    document = Document.objects.get(workspace=workspace, external_id="swift-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:content_document_change", args=[document.pk])
    assert document.status == Document.Status.READY and document.chunk_count == 1
    assert all(in_every_store(workspace.pk, document.pk).values())
    body = stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document.pk))
    assert body["metadata"] == {"order": "Apodiformes"}
    assert AuditEntry.objects.filter(action="content.documents.ingest", actor_id=staff.pk).exists()


def test_add_form_refuses_bad_input_and_writes_nothing(client, staff, workspace, other_workspace):
    client.force_login(staff)
    url = reverse("admin:content_document_add")
    data = {
        "workspace": workspace.pk,
        "external_id": "x",
        "title": "X",
        "content_type": "text/plain",
        "text": "Some text.",
        "metadata": "[1, 2]",
    }
    response = client.post(url, data)
    assert response.status_code == 200 and "Metadata must be a JSON object" in response.content.decode()
    response = client.post(url, {**data, "metadata": "{oops"})
    assert "Invalid JSON" in response.content.decode()
    # a workspace the user is not a member of is not a choice
    response = client.post(url, {**data, "metadata": "{}", "workspace": other_workspace.pk})
    assert "Select a valid choice" in response.content.decode()
    # the ingest service's own refusals come back as form errors
    response = client.post(url, {**data, "metadata": "{}", "text": "   "})
    assert response.status_code == 200 and "text is missing or empty" in response.content.decode()
    too_big = '{"blob": "%s"}' % ("x" * 70_000)
    response = client.post(url, {**data, "metadata": too_big})
    assert response.status_code == 200
    assert "metadata is" in response.content.decode() and "STRATA_MAX_METADATA_BYTES" in response.content.decode()
    # the form names the limit ingest applies to metadata (100 levels), not the stores' (128)
    for levels in (101, 150):
        deep = '{"a": ' * levels + "1" + "}" * levels
        response = client.post(url, {**data, "metadata": deep})
        assert "Metadata nests objects and arrays deeper than 100 levels" in response.content.decode()
    assert not Document.objects.exists()


def test_delete_action_removes_the_documents_from_every_store(client, staff, workspace, docs):
    client.force_login(staff)
    owl, kite, bobs = docs["owl"], docs["kite"], docs["other:bob-owl"]
    assert all(in_every_store(workspace.pk, owl).values())
    data = {"action": "delete_selected", "_selected_action": [owl, bobs]}
    confirm = client.post(reverse(CHANGELIST), data)
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    assert "Barn owl" in confirm.content.decode() and "Bob" not in confirm.content.decode()

    done = client.post(reverse(CHANGELIST), {**data, "post": "yes"})
    assert done.status_code == 302
    assert not any(in_every_store(workspace.pk, owl).values())
    assert all(in_every_store(workspace.pk, kite).values())
    # the other workspace's document was not in the user's queryset: untouched
    assert all(in_every_store(Document.objects.get(pk=bobs).workspace_id, bobs).values())
    assert AuditEntry.objects.filter(action="content.document.delete", object_id=str(owl)).exists()


def test_delete_view_goes_through_the_service_too(client, staff, workspace, docs):
    client.force_login(staff)
    url = reverse("admin:content_document_delete", args=[docs["kite"]])
    assert client.get(url).status_code == 200
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not any(in_every_store(workspace.pk, docs["kite"]).values())


def test_reembed_action_embeds_the_selected_documents_again(client, staff, workspace, docs):
    client.force_login(staff)
    chunk = Chunk.objects.filter(document_id=docs["owl"]).first()
    first_time = chunk.embedded_at
    response = client.post(reverse(CHANGELIST), {"action": "reembed_documents", "_selected_action": [docs["owl"]]})
    assert response.status_code == 302
    chunk.refresh_from_db()
    assert chunk.embedded_at > first_time
    other = Chunk.objects.filter(document_id=docs["kite"]).first()
    assert other.embedded_at < chunk.embedded_at


def test_chunk_admin_is_read_only_and_scoped(client, staff, docs):
    client.force_login(staff)
    response = client.get(reverse("admin:content_chunk_changelist"))
    assert response.status_code == 200
    shown = {c.document_id for c in response.context["cl"].result_list}
    assert shown == {docs["owl"], docs["kite"]}
    chunk = Chunk.objects.filter(document_id=docs["owl"]).first()
    page = client.get(reverse("admin:content_chunk_change", args=[chunk.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;voles&lt;/b&gt;" in html and 'name="_save"' not in html
    other_chunk = Chunk.objects.filter(document_id=docs["other:bob-owl"]).first()
    assert client.get(reverse("admin:content_chunk_change", args=[other_chunk.pk])).status_code == 302
    assert client.get(reverse("admin:content_chunk_add")).status_code == 403


def test_metadata_filter_before_anything_was_ingested(client, staff, workspace):
    client.force_login(staff)
    response = client.get(reverse(CHANGELIST), {"metadata": "lang=en"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert 'name="metadata" value="lang=en"' in response.content.decode()
