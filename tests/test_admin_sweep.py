"""Every registered admin, read from the admin site itself (so a new one is covered): a
workspace-scoped admin's related-field filters list only related rows the user may see
(Django's plain RelatedFieldListFilter lists every row of the related table), no admin offers
autocomplete or raw-id lookups (Django answers those from the related model's admin, outside
this admin's scoping), no model links to the public site, and the tables that are not scoped
to a workspace are for superusers."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.filters import EmptyFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import RequestFactory

from core.admin_mixins import WorkspaceScopedAdmin
from core.models import Workspace

SAFE_RELATED_FILTERS = (RelatedOnlyFieldListFilter, EmptyFieldListFilter)


def related_filters(model_admin):
    for spec in model_admin.list_filter:
        name, cls = spec if isinstance(spec, tuple) else (spec, None)
        if not isinstance(name, str):
            continue  # a SimpleListFilter class: its own lookups
        field = model_admin.model._meta.get_field(name.split("__")[0])
        if field.is_relation:
            yield name, cls


def test_scoped_admins_filter_only_on_rows_the_user_may_see():
    unsafe = [
        f"{model.__name__}.{name}"
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, WorkspaceScopedAdmin)
        for name, cls in related_filters(model_admin)
        if not (cls and issubclass(cls, SAFE_RELATED_FILTERS))
    ]
    assert unsafe == []


def test_no_lookups_outside_the_admins_scoping():
    for model, model_admin in admin.site._registry.items():
        assert not model_admin.autocomplete_fields, model
        assert not model_admin.raw_id_fields, model
        assert not hasattr(model, "get_absolute_url") or model_admin.view_on_site is False, model
        for inline in model_admin.inlines:
            assert not inline.autocomplete_fields and not inline.raw_id_fields, inline


def test_admins_not_scoped_to_a_workspace_are_for_superusers():
    staff = get_user_model()(username="staff", is_staff=True, is_active=True)
    staff.pk = 10**9  # unsaved, never a member: only the permission methods are asked
    request = RequestFactory().get("/admin/")
    request.user = staff
    staff.has_perm = lambda *args, **kwargs: True  # every model permission: only the admin can refuse
    open_to_staff = [
        model.__name__
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, WorkspaceScopedAdmin)
        # scoped by hand: users and groups (core.admin_users, tests/test_admin_users.py), workspaces
        # (the user's own, tests/test_admin.py)
        and model not in (get_user_model(), Group, Workspace)
        and model_admin.has_view_permission(request)
    ]
    assert open_to_staff == []


@pytest.mark.django_db
def test_history_and_delete_pages_of_another_workspaces_rows_show_nothing(client, django_user_model, other_workspace):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from content.services import IngestItem
    from core import services
    from tests.content.helpers import ingest

    ids = ingest(other_workspace.pk, IngestItem("secret", "Secret plans", "The zeppelin plans."), embed=False)
    staff = django_user_model.objects.create_user("sam", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.all())
    services.workspace_create(name="Sam's", owner=staff)
    client.force_login(staff)
    for view in ("history", "delete", "change"):
        answer = client.get(reverse(f"admin:content_document_{view}", args=[ids["secret"]]))
        assert answer.status_code in (302, 403, 404), view
        assert "Secret plans" not in answer.content.decode(), view
