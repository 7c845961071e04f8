"""Admin for the core models: the site itself, the helpers every app's admin uses
(``pretty_json``, ``ReadOnlyAdminMixin``), and workspaces and their members.

Workspace-owned rows are scoped to the workspaces the signed-in user belongs to
(``WorkspaceScopedAdmin``). Writes to workspaces and memberships go through ``core.services``.
The rest of core's admin tells its own story: the audit log and the outbox (``admin_events``,
read-only but for replay), the storage tables, routes and moves (``admin_storage``, superusers
only), users and groups (``admin_users``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html

from core import selectors, services
from core.admin_mixins import WorkspaceScopedAdmin, restrict_user_choices, writable_workspace_ids
from core.login_throttle import ThrottledAdminAuthenticationForm
from core.models import Membership, Workspace
from core.permissions import MANAGE_ROLES

PRETTY_JSON_MAX_CHARS = 50_000

admin.site.site_header = "Strata administration"
admin.site.login_form = ThrottledAdminAuthenticationForm  # failed logins throttled (core/login_throttle.py)
admin.site.site_title = "Strata admin"
admin.site.index_title = "Workspaces, documents, outbox and audit log"
# The changelists need the width: with the app sidebar and the filter column, the documents
# list had its last columns cut off at 1280 px. The breadcrumbs and the index lead everywhere.
admin.site.enable_nav_sidebar = False


def pretty_json(value: Any) -> str:
    """JSON indented inside <pre>, escaped, cut at PRETTY_JSON_MAX_CHARS characters."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > PRETTY_JSON_MAX_CHARS:
        text = f"{text[:PRETTY_JSON_MAX_CHARS]}\n... ({len(text) - PRETTY_JSON_MAX_CHARS} more characters)"
    return format_html('<pre class="strata-json">{}</pre>', text)


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes rows through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------- workspaces and members


def _owns(request: HttpRequest, workspace: Workspace | None) -> bool:
    """Superusers, and owners of ``workspace`` (None: the add page, whose creator becomes owner)."""
    if workspace is None or request.user.is_superuser:
        return True
    return workspace.pk in writable_workspace_ids(request, MANAGE_ROLES)


class MembershipInline(admin.TabularInline):
    """A workspace's members: only its owners (and superusers) add, change or remove them."""

    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        restrict_user_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Workspace | None = None) -> bool:
        return super().has_add_permission(request, obj) and _owns(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Workspace | None = None) -> bool:
        return super().has_change_permission(request, obj) and _owns(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Workspace | None = None) -> bool:
        return super().has_delete_permission(request, obj) and _owns(request, obj)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    inlines = [MembershipInline]

    def _member_of(self, request: HttpRequest, obj: Workspace | None) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        return obj.pk in selectors.workspace_ids_for_user(user=request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=selectors.workspace_ids_for_user(user=request.user))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._member_of(request, obj)

    def _manages(self, request: HttpRequest, obj: Workspace | None) -> bool:
        """Renaming or deleting a workspace is for its owners (without ``obj``: owners of any)."""
        if request.user.is_superuser:
            return True
        owned = writable_workspace_ids(request, MANAGE_ROLES)
        return bool(owned) if obj is None else obj.pk in owned

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    # -- delete: through the service, so every store's projections go with the rows
    def delete_model(self, request: HttpRequest, obj: Workspace) -> None:
        services.workspace_delete(workspace=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        for workspace in queryset:
            if not self._manages(request, workspace):
                raise PermissionDenied(f"Only the owners of {workspace} can delete it.")
        for workspace in queryset:
            services.workspace_delete(workspace=workspace, actor=request.user)

    def get_deleted_objects(
        self, objs: Iterable[Workspace], request: HttpRequest
    ) -> tuple[list, dict, set, list]:
        # The service deletes the rows (their foreign keys cascade) and every store's projections;
        # Django's collector would walk every row and need delete permission on read-only admins.
        objs = list(objs)
        described = [
            f"{obj}: its memberships, documents, chunks, vectors, graph nodes, knowledge and agents data"
            for obj in objs
        ]
        refused = {f"{obj} (only its owners can delete it)" for obj in objs if not self._manages(request, obj)}
        return described, {Workspace._meta.verbose_name_plural: len(objs)}, refused, []

    def save_model(self, request: HttpRequest, obj: Workspace, form: ModelForm, change: bool) -> None:
        if change:
            services.workspace_rename(workspace=obj, name=obj.name, actor=request.user)
            return
        created = services.workspace_create(name=obj.name, owner=request.user, slug=obj.slug or None)
        # The admin keeps working with ``obj`` (inlines, log entry, redirect): make it the saved row.
        obj.pk, obj.name, obj.slug, obj.created_at = created.pk, created.name, created.slug, created.created_at
        obj._state.adding, obj._state.db = False, created._state.db

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            services.membership_remove(workspace=form.instance, user=membership.user, actor=request.user)
        for membership, changed_fields in formset.changed_objects:
            if "user" in changed_fields:  # the row now names someone else: the old member leaves
                old_user = Membership.objects.get(pk=membership.pk).user
                services.membership_remove(workspace=form.instance, user=old_user, actor=request.user)
        for membership in [*formset.new_objects, *(m for m, _ in formset.changed_objects)]:
            saved = services.membership_add(
                workspace=form.instance, user=membership.user, role=membership.role, actor=request.user
            )
            membership.pk, membership.created_at = saved.pk, saved.created_at


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    write_roles = MANAGE_ROLES  # members see who else is in; only owners change it
    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role", ("workspace", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "workspace__name")
    list_select_related = ("user", "workspace")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Only the role of an existing membership changes; moving it is remove + add.
        return ("user", "workspace", "created_at") if obj is not None else ("created_at",)

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        saved = services.membership_add(workspace=obj.workspace, user=obj.user, role=obj.role, actor=request.user)
        obj.pk, obj.created_at = saved.pk, saved.created_at
        obj._state.adding, obj._state.db = False, saved._state.db


# The rest of core's admin: the audit log and outbox; storage tables, routes and moves; users and groups.
from core import admin_events, admin_storage, admin_users  # noqa: E402,F401
