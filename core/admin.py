"""Admin for the core models.

Workspace-owned rows are scoped to the workspaces the signed-in user belongs to
(``WorkspaceScopedAdmin``); the audit log, the outbox and the storage adapter tables are
read-only. Writes to workspaces and memberships go through ``core.services``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Func, IntegerField, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html

from core import outbox, selectors, services
from core.admin_mixins import WorkspaceScopedAdmin, restrict_user_choices, writable_workspace_ids
from core.login_throttle import ThrottledAdminAuthenticationForm
from core.models import (
    AuditEntry,
    DocumentCollection,
    DocumentRecord,
    Membership,
    OutboxDelivery,
    OutboxEvent,
    VectorCollectionRecord,
    VectorRecord,
    Workspace,
)
from core.permissions import MANAGE_ROLES

PRETTY_JSON_MAX_CHARS = 50_000
EMBEDDING_PREVIEW_VALUES = 8

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


# ---------------------------------------------------------------- audit log


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    workspace_field = "workspace_id"
    list_display = ("created_at", "actor_repr", "action", "object_type", "object_id", "workspace_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor_repr", "action", "object_type", "object_id")
    fields = ("created_at", "workspace_id", "actor_id", "actor_repr", "action", "object_type", "object_id", "changes_")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="changes")
    def changes_(self, obj: AuditEntry) -> str:
        return pretty_json(obj.changes)


# ---------------------------------------------------------------- outbox


class OutboxDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OutboxDelivery
    extra = 0
    fields = ("handler", "delivered_at")
    readonly_fields = fields


@admin.register(OutboxEvent)
class OutboxEventAdmin(WorkspaceScopedAdmin):
    workspace_field = "workspace_id"
    list_display = (
        "event_type",
        "status",
        "priority",
        "attempts",
        "available_at",
        "created_at",
        "error_",
        "workspace_id",
    )
    list_filter = ("status", "event_type")
    search_fields = ("event_type", "last_error")
    fields = (
        "id",
        "event_type",
        "status",
        "priority",
        "workspace_id",
        "attempts",
        "available_at",
        "created_at",
        "delivered_at",
        "last_error",
        "payload_",
    )
    readonly_fields = fields
    inlines = [OutboxDeliveryInline]
    actions = ["replay_events"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("core.change_outboxevent") and self.can_write(request)

    @admin.display(description="last error")
    def error_(self, obj: OutboxEvent) -> str:
        first_line = obj.last_error.strip().splitlines()[0] if obj.last_error.strip() else ""
        return first_line[:120]

    @admin.display(description="payload")
    def payload_(self, obj: OutboxEvent) -> str:
        return pretty_json(obj.payload)

    @admin.action(description="Replay selected events", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        # ``queryset`` is the selection inside this admin's (workspace-scoped) queryset; only
        # events of workspaces where the user is an editor or owner are replayed.
        selected = queryset.count()
        event_ids = list(self.writable(request, queryset).values_list("id", flat=True))
        if len(event_ids) < selected:
            self.message_user(
                request,
                f"{selected - len(event_ids)} selected event(s) belong to workspaces where you are a viewer; "
                "they were left alone.",
                messages.WARNING,
            )
        count = outbox.replay(event_ids=event_ids, dead_only=False, actor=request.user)
        self.message_user(
            request,
            f"Requeued {count} of {len(event_ids)} selected event(s) for delivery.",
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    workspace_field = "event__workspace_id"
    list_display = ("handler", "event", "delivered_at")
    search_fields = ("handler",)
    list_select_related = ("event",)
    fields = ("event", "handler", "delivered_at")
    readonly_fields = fields
    show_full_result_count = False


# ---------------------------------------------------------------- storage adapter tables


class SuperuserReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The adapters' own tables: not workspace-scoped, so only superusers may look."""

    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


@admin.register(DocumentCollection)
class DocumentCollectionAdmin(SuperuserReadOnlyAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    fields = ("name", "created_at", "documents")
    readonly_fields = fields

    @admin.display(description="documents")
    def documents(self, obj: DocumentCollection) -> int:
        return obj.records.count()


@admin.register(DocumentRecord)
class DocumentRecordAdmin(SuperuserReadOnlyAdmin):
    list_display = ("key", "collection", "size", "updated_at")
    list_filter = ("collection",)
    search_fields = ("key",)
    list_select_related = ("collection",)
    fields = ("collection", "key", "size", "created_at", "updated_at", "body_")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[DocumentRecord]:
        size = Func(F("body"), function="pg_column_size", output_field=IntegerField())
        return super().get_queryset(request).defer("body").annotate(stored_bytes=size)

    @admin.display(description="stored bytes", ordering="stored_bytes")
    def size(self, obj: DocumentRecord) -> int | None:
        return getattr(obj, "stored_bytes", None)

    @admin.display(description="body")
    def body_(self, obj: DocumentRecord) -> str:
        return pretty_json(obj.body)


@admin.register(VectorCollectionRecord)
class VectorCollectionRecordAdmin(SuperuserReadOnlyAdmin):
    list_display = ("name", "model", "dimension", "metric", "created_at")
    list_filter = ("metric", "model")
    search_fields = ("name", "model")
    fields = ("name", "model", "dimension", "metric", "created_at", "vectors")
    readonly_fields = fields

    @admin.display(description="vectors")
    def vectors(self, obj: VectorCollectionRecord) -> int:
        return obj.vectors.count()


@admin.register(VectorRecord)
class VectorRecordAdmin(SuperuserReadOnlyAdmin):
    list_display = ("key", "collection", "dimensions", "updated_at")
    list_filter = ("collection",)
    search_fields = ("key",)
    list_select_related = ("collection",)
    # ``embedding`` itself is never rendered: 1536 floats are noise on a page.
    fields = ("collection", "key", "dimensions", "embedding_preview", "updated_at", "metadata_")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[VectorRecord]:
        dims = Func(F("embedding"), function="vector_dims", output_field=IntegerField())
        return super().get_queryset(request).defer("embedding").annotate(embedding_dims=dims)

    @admin.display(description="dimensions", ordering="embedding_dims")
    def dimensions(self, obj: VectorRecord) -> int | None:
        return getattr(obj, "embedding_dims", None)

    @admin.display(description="embedding (first values)")
    def embedding_preview(self, obj: VectorRecord) -> str:
        values = list(obj.embedding[:EMBEDDING_PREVIEW_VALUES])
        shown = ", ".join(f"{float(v):.4f}" for v in values)
        more = len(obj.embedding) - len(values)
        return f"[{shown}{', ...' if more > 0 else ''}] ({len(obj.embedding)} values)"

    @admin.display(description="metadata")
    def metadata_(self, obj: VectorRecord) -> str:
        return pretty_json(obj.metadata)


from core import admin_storage, admin_users  # noqa: E402,F401  (storage routes and moves; users and groups)
