"""Fuzzing what the other fuzz files leave out: the bytes of an uploaded or ingested file as the
decoder reads them (byte order marks, declared HTML charsets), the entity list, the analytics
page, the workspace switch and the Cypher console's form as a browser posts it.

Never a 500 (the test client re-raises a view's exception), never an exception from the decoder
other than its ``(message, line)`` refusal."""

from __future__ import annotations

import codecs

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from content.decoding import decode
from core import permissions, services
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db

_LABELS = ["utf-8", "ISO-8859-1", "latin1", "windows-1252", "koi8-r", "utf-16", "base64", "rot13", "x" * 41, "", "'"]
_HEADS = st.one_of(
    st.sampled_from(
        [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, b""]
    ),
    st.builds(lambda label, quote: b"<meta charset=" + quote + label.encode() + quote + b">", st.sampled_from(_LABELS),
              st.sampled_from([b'"', b"'", b""])),
    st.builds(lambda label: b'<?xml version="1.0" encoding="' + label.encode() + b'"?>', st.sampled_from(_LABELS)),
)  # fmt: skip


def test_decode(request, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 400))
    @given(head=_HEADS, body=st.one_of(st.binary(max_size=200), s.text.map(lambda t: t.encode("utf-8"))),
           html=st.booleans())  # fmt: skip
    def run(head, body, html):
        count()
        decoded = decode(head + body, html=html)
        if isinstance(decoded, str):
            assert "\x00" not in decoded
            decoded.encode("utf-8")  # no lone surrogates: PostgreSQL text can hold it
        else:
            message, line = decoded
            assert message and (line is None or line >= 1)

    run()
    assert count.ran() >= 300


def test_entity_list(request, client, user, workspace, count):
    client.force_login(user)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 100))
    @given(params=st.dictionaries(st.sampled_from(["q", "type", "page"]), s.text, max_size=3))
    def run(params):
        count()
        assert client.get(reverse("knowledge:entity-list"), params).status_code in (200, 400)

    run()
    assert count.ran() >= 70


def test_analytics_page(request, client, user, workspace, count):
    client.force_login(user)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 100))
    @given(
        days=st.one_of(s.short_text, st.integers(-10, 10**12).map(str)),
        agent=st.one_of(s.short_text, st.integers(-10, 10**20).map(str)),
    )
    def run(days, agent):
        count()
        assert client.get(reverse("agents:analytics"), {"days": days, "agent": agent}).status_code in (200, 400)

    run()
    assert count.ran() >= 70


def test_workspace_switch(request, client, user, workspace, other_user, count):
    services.workspace_create(name="Not yours", owner=other_user)
    client.force_login(user)
    key = permissions.SESSION_KEY

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 60))
    @given(value=st.one_of(s.short_text, st.integers(-10, 10**20).map(str)), next_url=s.short_text)
    def run(value, next_url):
        count()
        answer = client.post(reverse("workspace-switch"), {"workspace": value, "next": next_url})
        assert answer.status_code in (302, 400, 403, 404), answer.status_code
        if answer.status_code == 302:  # never off-site, never into a workspace that is not the user's
            assert answer["Location"].startswith("/"), answer["Location"]
            assert not answer["Location"].startswith("//"), answer["Location"]
        assert client.session.get(key) in (None, workspace.pk)

    run()
    assert count.ran() >= 40


def test_console_form(request, client, user, workspace, count):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    words = ["MATCH", "(n)", "RETURN", "n", "count(n)", "LIMIT", "1", "'", '"', "`", "$$", "$x", "//", "[", "{", ";"]

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 40))
    @given(
        query=st.one_of(st.lists(st.sampled_from(words), max_size=8).map(" ".join), s.text),
        params=s.metadata_filters,
    )
    def run(query, params):
        count()
        answer = client.post(reverse("knowledge:console"), {"query": query, "params": params})
        assert answer.status_code in (200, 400, 403), answer.status_code

    run()
    assert count.ran() >= 30
