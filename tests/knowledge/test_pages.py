"""The knowledge pages: entity list and page, the document page's entities and relations, the
explorer's JSON; each scoped to the user's workspace (404 for another's), bad input a 4xx."""

from __future__ import annotations

import pytest
from django.urls import reverse

from knowledge.models import Entity
from tests.knowledge.graphs import build
from tests.knowledge.helpers import doc, drain, ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client, user, workspace, other_workspace, other_user, structured_only):
    ids = ingest(workspace.id, doc("web.md", "x", name="web", depends=["http"], authors=["Ada"]))
    drain()
    assert not build(other_workspace.id, edges=[("web", "secret-dep")]).errors
    client.force_login(user)
    return ids


def test_entity_list_and_page(client, workspace, setup):
    page = client.get(reverse("knowledge:entity-list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "web" in body and "http" in body and "secret-dep" not in body
    web = Entity.objects.get(workspace=workspace, key="web")
    page = client.get(reverse("knowledge:entity-detail", args=[web.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and "DEPENDS_ON" in body and "extractor:structured" in body
    assert "web.md" in body  # the document that mentions it


def test_pages_of_another_workspace_are_404(client, other_workspace, setup):
    theirs = Entity.objects.get(workspace=other_workspace, key="secret-dep")
    assert client.get(reverse("knowledge:entity-detail", args=[theirs.pk])).status_code == 404
    answer = client.get(reverse("knowledge:graph-json"), {"key": "secret-dep"})
    assert answer.status_code == 404
    answer = client.get(reverse("knowledge:graph-json"), {"key": "web", "depth": 3})
    keys = {n["key"] for n in answer.json()["nodes"]}
    assert "secret-dep" not in keys and {"web", "http"} <= keys


def test_document_page_shows_entities_and_relations(client, setup):
    page = client.get(reverse("content:document-detail", args=[setup["web.md"]]))
    body = page.content.decode()
    assert "Related in the knowledge graph" in body and "<h3>Relations</h3>" in body
    assert "DEPENDS_ON" in body and "AUTHORED_BY" in body and "Ada" in body
    assert "No related nodes" not in body


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"key": ""},
        {"key": "web", "depth": "9"},
        {"key": "web", "depth": "x"},
        {"key": "web", "labels": "a b"},
        {"key": "doc:notanumber"},
        {"key": "x" * 500},
    ],
)
def test_explorer_json_bad_input_is_400(client, setup, params):
    assert client.get(reverse("knowledge:graph-json"), params).status_code == 400


def test_explorer_json_labels_filter(client, setup):
    answer = client.get(reverse("knowledge:graph-json"), {"key": "web", "labels": "AUTHORED_BY"}).json()
    assert {n["key"] for n in answer["nodes"]} == {"web", "ada"}
    assert {e["label"] for e in answer["edges"]} == {"AUTHORED_BY"}


def test_pages_need_login(client):
    for name in ("knowledge:entity-list", "knowledge:explore", "knowledge:graph-json", "knowledge:console"):
        assert client.get(reverse(name)).status_code == 302


def test_entity_list_filters(client, workspace, setup):
    page = client.get(reverse("knowledge:entity-list"), {"q": "we", "type": "package"})
    body = page.content.decode()
    assert page.status_code == 200 and ">web</a>" in body and ">http</a>" not in body
    page = client.get(reverse("knowledge:entity-list"), {"q": "nothing-like-this", "type": "x" * 80, "page": "zz"})
    assert page.status_code == 200 and "No entities match" in page.content.decode()


def test_entity_list_finds_aliases(client, workspace, setup):
    import io
    import json

    from knowledge.services import graph_import

    line = {
        "kind": "node",
        "key": "pg",
        "label": "Product",
        "properties": {"name": "PostgreSQL", "aliases": ["Postgres", "Big Elephant"]},
    }
    assert not graph_import(stream=io.BytesIO(json.dumps(line).encode()), name="a", workspace_id=workspace.id).errors
    body = client.get(reverse("knowledge:entity-list"), {"q": "postgres"}).content.decode()
    assert ">PostgreSQL</a>" in body
    body = client.get(reverse("knowledge:entity-list"), {"q": "big elephant"}).content.decode()
    assert ">PostgreSQL</a>" in body  # only an alias holds these words
