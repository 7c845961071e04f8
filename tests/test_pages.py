"""The pages of the core app: login, home, the workspace switcher, healthz."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from core import services
from core.middleware import SESSION_KEY

pytestmark = pytest.mark.django_db


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_login_page_logs_in_and_lands_on_home(client, user, workspace):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="password"' in page.content

    bad = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200
    assert "_auth_user_id" not in client.session

    good = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"}, follow=True)
    assert good.redirect_chain[-1][0] == reverse("home")
    assert "Alice&#x27;s lab" in good.content.decode()


def test_home_shows_only_the_current_users_workspace(client, user, workspace, other_workspace, other_user):
    services.audit_record(
        actor=user, action="note.add", object_type="test.Note", object_id="alpha-marker", workspace_id=workspace.pk
    )
    services.audit_record(
        actor=other_user,
        action="note.add",
        object_type="test.Note",
        object_id="bravo-marker",
        workspace_id=other_workspace.pk,
    )
    services.outbox_publish(event_type="test.bravo", payload={}, workspace_id=other_workspace.pk)
    client.force_login(user)

    html = client.get(reverse("home")).content.decode()

    assert "Alice&#x27;s lab" in html
    assert "alpha-marker" in html
    assert "bravo-marker" not in html
    assert "Bob&#x27;s lab" not in html  # not even in the switcher
    assert f'value="{other_workspace.pk}"' not in html
    # the Activity section counts this workspace only: 2 audit entries (create + note), 0 events
    activity = re.search(r"<h2>Activity</h2>(.*?)</dl>", html, re.S).group(1)
    counts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", activity))
    assert counts == {"Audit entries": "2", "Outbox events pending": "0", "Dead letters": "0"}


def test_home_escapes_user_data(client, user):
    services.workspace_create(name="<script>alert(1)</script>", owner=user)
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_home_without_a_workspace_says_so(client, user):
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "No workspace yet" in response.content.decode()
    assert 'name="workspace"' not in response.content.decode()


def test_switcher_moves_to_another_workspace_of_the_user(client, user, workspace):
    second = services.workspace_create(name="Second lab", owner=user)
    client.force_login(user)
    assert "<h1>Alice&#x27;s lab</h1>" in client.get(reverse("home")).content.decode()

    response = client.post(reverse("workspace-switch"), {"workspace": second.pk})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == second.pk
    assert "<h1>Second lab</h1>" in client.get(reverse("home")).content.decode()


def test_switcher_refuses_a_workspace_the_user_is_not_a_member_of(client, user, workspace, other_workspace):
    services.audit_record(
        actor=None,
        action="note.add",
        object_type="test.Note",
        object_id="bravo-marker",
        workspace_id=other_workspace.pk,
    )
    client.force_login(user)

    response = client.post(reverse("workspace-switch"), {"workspace": other_workspace.pk})

    assert response.status_code == 302
    assert client.session.get(SESSION_KEY) != other_workspace.pk
    html = client.get(reverse("home")).content.decode()
    assert "<h1>Alice&#x27;s lab</h1>" in html
    assert "bravo-marker" not in html


def test_switcher_accepts_post_only(client, user, workspace):
    client.force_login(user)
    assert client.get(reverse("workspace-switch"), {"workspace": workspace.pk}).status_code == 405


def test_posts_without_csrf_token_are_refused(user, workspace):
    second = services.workspace_create(name="Second lab", owner=user)
    client = Client(enforce_csrf_checks=True)

    # login form
    assert client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"}).status_code == 403
    assert "_auth_user_id" not in client.session
    token = _csrf_token(client.get(reverse("login")).content.decode())
    logged_in = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123", "csrfmiddlewaretoken": token}
    )
    assert logged_in.status_code == 302

    # workspace switcher
    assert client.post(reverse("workspace-switch"), {"workspace": second.pk}).status_code == 403
    assert client.session.get(SESSION_KEY) != second.pk
    token = _csrf_token(client.get(reverse("home")).content.decode())
    assert (
        client.post(reverse("workspace-switch"), {"workspace": second.pk, "csrfmiddlewaretoken": token}).status_code
        == 302
    )
    assert client.session[SESSION_KEY] == second.pk

    # logout is a POST with a token too (a GET is not allowed at all)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in client.session
    token = _csrf_token(client.get(reverse("home")).content.decode())
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert "_auth_user_id" not in client.session


def test_base_template_offers_admin_to_staff_only(client, user, workspace):
    client.force_login(user)
    assert reverse("admin:index") not in client.get(reverse("home")).content.decode()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert reverse("admin:index") in client.get(reverse("home")).content.decode()


def test_healthz(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_missing_page_is_the_sites_404_with_a_way_home(client, user, workspace):
    anonymous = client.get("/no/such/page/")
    assert anonymous.status_code == 404
    assert "<h1>Page not found</h1>" in anonymous.content.decode()
    client.force_login(user)
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in html and "<code>/no/such/page/</code>" in html
    assert f'href="{reverse("home")}">Go to the home page</a>' in html
    assert 'class="mainnav"' in html  # the site's own layout, signed in


def test_an_expired_form_gets_a_page_that_says_what_to_do(user, workspace):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("workspace-switch"), {"workspace": workspace.pk})
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>The form has expired</h1>" in html and "reload the page" in html


def test_a_forbidden_action_says_why(client, user, other_user, workspace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.models import Membership

    services.membership_add(workspace=workspace, user=other_user, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    client.post(reverse("workspace-switch"), {"workspace": workspace.pk})
    response = client.post(reverse("content:document-list"), {"files": [SimpleUploadedFile("a.txt", b"hi")]})
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>Not allowed</h1>" in html and "Viewers cannot add documents" in html


def test_the_500_page_renders_without_a_request_or_database():
    from django.template import loader

    html = loader.get_template("500.html").render({})
    assert "<h1>Something went wrong</h1>" in html and "./strata status" in html


def test_the_admin_is_strata_s(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser(username="root", password="pw-root-123")
    client.force_login(admin_user)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Strata administration" in html and "Django administration" not in html
    assert "Outbox deliveries" in html and "deliverys" not in html
