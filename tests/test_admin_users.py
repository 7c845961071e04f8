"""The users admin for a staff user who is not a superuser, even one holding every auth
permission: lists only the people who share a workspace with them, changes only their own
account and never its privileges (staff, superuser, groups, permissions), sets nobody else's
password, deletes nobody; groups are for superusers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from core import services
from core.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(django_user_model, user):
    """owner of alice's lab, staff with every auth permission."""
    lab = services.workspace_create(name="Lab", owner=user)
    olga = django_user_model.objects.create_user(username="olga", password="pw-olga-123", is_staff=True)
    olga.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["auth", "core"]))
    services.membership_add(workspace=lab, user=olga, role=Membership.Role.OWNER)
    return olga


@pytest.fixture
def outsider(django_user_model):
    other = django_user_model.objects.create_user(username="outsider-zed", email="zed@elsewhere.example")
    services.workspace_create(name="Elsewhere", owner=other)
    return other


def test_the_user_list_shows_only_people_sharing_a_workspace(client, olga, user, outsider):
    client.force_login(olga)
    page = client.get(reverse("admin:auth_user_changelist"))
    assert page.status_code == 200
    assert "alice" in page.content.decode()
    assert "outsider-zed" not in page.content.decode()
    search = client.get(reverse("admin:auth_user_changelist"), {"q": "zed"})
    assert "zed@elsewhere.example" not in search.content.decode()
    assert client.get(reverse("admin:auth_user_change", args=[outsider.pk])).status_code == 302  # "does not exist"
    assert client.get(reverse("admin:auth_user_password_change", args=[outsider.pk])).status_code == 404


def test_a_staff_user_cannot_raise_his_privileges(client, olga):
    client.force_login(olga)
    form = {
        "username": "olga",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "user_permissions": [p.pk for p in Permission.objects.all()],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    client.post(reverse("admin:auth_user_change", args=[olga.pk]), form)
    olga.refresh_from_db()
    assert not olga.is_superuser
    held = Permission.objects.filter(content_type__app_label__in=["auth", "core"])
    assert olga.user_permissions.count() == held.count()


def test_a_staff_user_cannot_change_delete_or_set_the_password_of_a_co_member(client, olga, user):
    client.force_login(olga)
    assert client.get(reverse("admin:auth_user_change", args=[user.pk])).status_code == 200  # may read
    answer = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "taken-over-123!", "password2": "taken-over-123!", "usable_password": "true"},
    )
    assert answer.status_code == 403
    assert client.post(reverse("admin:auth_user_delete", args=[user.pk]), {"post": "yes"}).status_code == 403
    user.refresh_from_db()
    assert user.check_password("pw-alice-123")
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403
    group = Group.objects.create(name="everything")
    assert client.get(reverse("admin:auth_group_change", args=[group.pk])).status_code in (302, 403)
