"""Admin of what happened and what is still to be delivered: the audit log (read-only) and the
outbox, its events and their deliveries, scoped to the user's workspaces; editors and owners may
replay events (``core.outbox.replay``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core import outbox
from core.admin import ReadOnlyAdminMixin, pretty_json
from core.admin_mixins import WorkspaceScopedAdmin
from core.models import AuditEntry, OutboxDelivery, OutboxEvent

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
class OutboxEventAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
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
