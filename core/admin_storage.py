"""Admin of storage routes and moves (superusers: they are not workspace-scoped). Both are
written only by ``manage.py storage_move``; every step of a move is also in the audit log
(actions ``storage.move.*``), linked from the move."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.admin import SuperuserReadOnlyAdmin, pretty_json
from core.models import StorageMove, StorageRoute


@admin.register(StorageRoute)
class StorageRouteAdmin(SuperuserReadOnlyAdmin):
    list_display = ("app", "kind", "read_alias", "write_aliases", "version", "updated_at")
    fields = list_display
    readonly_fields = fields


@admin.register(StorageMove)
class StorageMoveAdmin(SuperuserReadOnlyAdmin):
    list_display = ("started_at", "app", "kind", "source", "target", "step", "status", "copied", "finished_at")
    list_filter = ("status", "step", "app", "kind")
    fields = (
        "app",
        "kind",
        "source",
        "target",
        "step",
        "status",
        "copied",
        "grace_until",
        "last_error",
        "started_at",
        "updated_at",
        "finished_at",
        "steps_",
        "checkpoint_",
        "verification_",
    )
    readonly_fields = fields

    @admin.display(description="audit log")
    def steps_(self, obj: StorageMove) -> str:
        query = urlencode({"object_type": "core.StorageMove", "q": str(obj.pk)})
        return format_html(
            '<a href="{}?{}">every step of this move</a>', reverse("admin:core_auditentry_changelist"), query
        )

    @admin.display(description="checkpoint")
    def checkpoint_(self, obj: StorageMove) -> str:
        return pretty_json(obj.checkpoint)

    @admin.display(description="last verification")
    def verification_(self, obj: StorageMove) -> str:
        return pretty_json(obj.verification)
