"""Fuzzing the pages: the upload form, the search page, the document list and the admin's
filters and search. Never a 500 (Django's test client re-raises a view's exception, so any
unhandled error fails the test with its traceback), and an upload never half-stores anything
(tests/fault/invariants.py after every upload)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from content.services import IngestItem
from tests.content.helpers import ingest
from tests.fault.invariants import check_workspace
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(client, user, workspace):
    ingest(workspace.pk, IngestItem("owl", "Barn owl", "Barn owls hunt voles at night.", metadata={"a": 1}))
    client.force_login(user)
    return client


@pytest.fixture
def staff_site(client, user, workspace):
    ingest(workspace.pk, IngestItem("owl", "Barn owl", "Barn owls hunt voles at night.", metadata={"a": 1}))
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["core", "content"]))
    client.force_login(user)
    return client


def ok(response) -> None:
    assert response.status_code in (200, 302, 400, 403, 404), response.status_code


def test_search_page(request, site, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 1200))
    @given(
        q=s.text,
        mode=st.one_of(st.sampled_from(["hybrid", "semantic", "fulltext", ""]), s.short_text),
        filters=s.metadata_filters,
    )
    def run(q, mode, filters):
        count()
        ok(site.get(reverse("content:search"), {"q": q, "mode": mode, "filters": filters}))

    run()
    assert count.ran() >= 1000


def test_document_list(request, site, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 400))
    @given(params=st.dictionaries(st.sampled_from(["q", "status", "page"]), s.text, max_size=3))
    def run(params):
        count()
        ok(site.get(reverse("content:document-list"), params))

    run()
    assert count.ran() >= 300


def test_document_statuses(request, site, count):
    ids = st.lists(st.one_of(st.integers(-(2**70), 2**70).map(str), s.short_text), max_size=6).map(",".join)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(ids=st.one_of(ids, s.text))
    def run(ids):
        count()
        ok(site.get(reverse("content:document-statuses"), {"ids": ids}))

    run()
    assert count.ran() >= 200


CHANGELISTS = {
    "admin:content_document_changelist": [
        "status__exact", "content_type__exact", "embedding_model__exact", "workspace__id__exact", "metadata", "q",
        "o", "p", "e", "all",
    ],
    "admin:content_chunk_changelist": ["embedding_model__exact", "q", "o", "p"],
    "admin:core_membership_changelist": ["role__exact", "workspace__id__exact", "q", "o"],
    "admin:core_outboxevent_changelist": ["status__exact", "event_type__exact", "q", "o", "p"],
    "admin:core_auditentry_changelist": ["action__exact", "object_type__exact", "q", "o"],
}  # fmt: skip


def test_admin_filters(request, staff_site, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 1000))
    @given(data=st.data())
    def run(data):
        count()
        url = data.draw(st.sampled_from(sorted(CHANGELISTS)))
        names = st.one_of(st.sampled_from(CHANGELISTS[url]), s.short_text)
        params = data.draw(st.dictionaries(names, st.one_of(s.text, s.metadata_filters), max_size=3))
        ok(staff_site.get(reverse(url), params))

    run()
    assert count.ran() >= 800


def test_upload_form(request, site, workspace, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 500))
    @given(files=st.lists(st.tuples(s.file_names, s.file_bytes), min_size=1, max_size=3), embed=st.booleans())
    def run(files, embed):
        count()
        uploads = [SimpleUploadedFile(name, content) for name, content in files]
        data = {"files": uploads, **({"embed": "on"} if embed else {})}
        ok(site.post(reverse("content:document-list"), data))
        check_workspace(workspace.pk)  # whatever was stored is complete in all four models

    run()
    assert count.ran() >= 400
