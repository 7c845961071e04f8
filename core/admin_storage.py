"""Admin of the storage layer's own tables, for superusers only (they are not workspace-scoped):
the Postgres adapters' document and vector tables, and the storage routes and moves. Routes and
moves are written only by ``manage.py storage_move``; every step of a move is also in the audit
log (actions ``storage.move.*``), linked from the move."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import F, Func, IntegerField, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdminMixin, pretty_json
from core.models import (
    DocumentCollection,
    DocumentRecord,
    StorageMove,
    StorageRoute,
    VectorCollectionRecord,
    VectorRecord,
)

EMBEDDING_PREVIEW_VALUES = 8


# ---------------------------------------------------------------- storage adapter tables


class SuperuserReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The storage layer's own tables: not workspace-scoped, so only superusers may look."""

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


# ---------------------------------------------------------------- routes and moves


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
