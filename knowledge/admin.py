"""Admin for the knowledge rows, scoped to the user's workspaces and roles. Rows change only
through the services (so the graph follows): entities, facts, relations and extraction runs are
read-only here, with actions that call the services: merge, undo a merge, re-extract."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyAdminMixin
from core.admin_mixins import WorkspaceScopedAdmin
from knowledge import selectors, services
from knowledge.entities import KnowledgeInputError
from knowledge.models import Entity, EntityType, ExtractionRun, Fact, Relation


@admin.register(EntityType)
class EntityTypeAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "workspace", "description")
    search_fields = ("name",)
    fields = ("workspace", "name", "description")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: EntityType, form: Any, change: bool) -> None:
        created = services.entity_type_create(
            workspace_id=obj.workspace_id, name=obj.name, description=obj.description, actor=request.user
        )
        obj.pk = created.pk


def _writable_by_workspace(model_admin: WorkspaceScopedAdmin, request: HttpRequest, queryset: QuerySet) -> dict:
    writable = model_admin.writable(request, queryset)
    skipped = queryset.count() - writable.count()
    if skipped:
        model_admin.message_user(
            request, f"{skipped} row(s) of workspaces where you are a viewer were left alone.", messages.WARNING
        )
    return writable


@admin.register(Entity)
class EntityAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("name", "key", "type", "workspace", "merged_into", "origin")
    list_filter = (
        ("type", admin.RelatedOnlyFieldListFilter),  # a plain "type" lists every workspace's own types
        ("workspace", admin.RelatedOnlyFieldListFilter),
        ("merged_into", admin.EmptyFieldListFilter),
    )
    search_fields = ("name", "key", "normalized")
    list_select_related = ("type", "workspace", "merged_into")
    show_full_result_count = False
    fields = ("workspace", "key", "name", "type", "aliases", "properties", "origin", "merged_into", "created_at")
    readonly_fields = fields
    actions = ["merge_into_oldest", "undo_merge", "reextract_mentioning"]

    def has_write_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("knowledge.view_entity") and self.can_write(request)

    @admin.action(description="Merge selected entities into the oldest of them", permissions=["write"])
    def merge_into_oldest(self, request: HttpRequest, queryset: QuerySet[Entity]) -> None:
        rows = _writable_by_workspace(self, request, queryset).filter(merged_into=None).order_by("id")
        groups: dict[int, list[int]] = defaultdict(list)
        for workspace_id, pk in rows.values_list("workspace_id", "id"):
            groups[workspace_id].append(pk)
        merged = 0
        for workspace_id, ids in groups.items():
            if len(ids) < 2:
                continue
            entries = services.entities_merge_into(
                workspace_id=workspace_id, keep_id=ids[0], merge_ids=ids[1:], actor=request.user
            )
            merged += len(entries)
        self.message_user(request, f"Merged {merged} entit{'y' if merged == 1 else 'ies'}.", messages.SUCCESS)

    @admin.action(description="Undo the merge of selected (merged) entities", permissions=["write"])
    def undo_merge(self, request: HttpRequest, queryset: QuerySet[Entity]) -> None:
        done, refused = 0, []
        for entity in _writable_by_workspace(self, request, queryset).exclude(merged_into=None):
            entry = selectors.latest_merge_entry(workspace_id=entity.workspace_id, entity_id=entity.pk)
            try:
                if entry is None:
                    raise KnowledgeInputError("no merge recorded")
                services.entity_merge_undo(
                    workspace_id=entity.workspace_id, audit_entry_id=entry.pk, actor=request.user
                )
                done += 1
            except KnowledgeInputError as exc:
                refused.append(f"{entity.name}: {exc}")
        self.message_user(request, f"Undid {done} merge(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Re-extract the documents that mention selected entities", permissions=["write"])
    def reextract_mentioning(self, request: HttpRequest, queryset: QuerySet[Entity]) -> None:
        rows = _writable_by_workspace(self, request, queryset)
        by_workspace: dict[int, set[int]] = defaultdict(set)
        for entity in rows:
            for ref in selectors.entity_documents(workspace_id=entity.workspace_id, key=entity.key):
                by_workspace[entity.workspace_id].add(int(ref.document_id))
        queued = sum(
            services.documents_reextract(workspace_id=ws, document_ids=sorted(ids), actor=request.user)
            for ws, ids in by_workspace.items()
        )
        self.message_user(request, f"Queued {queued} document(s) for extraction.", messages.SUCCESS)


@admin.register(Fact)
class FactAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("statement", "workspace", "created_at")
    search_fields = ("statement",)
    list_select_related = ("workspace",)
    fields = ("workspace", "statement", "statement_hash", "created_at")
    readonly_fields = fields


@admin.register(Relation)
class RelationAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = (
        "label",
        "source_entity",
        "source_document_id",
        "target_entity",
        "target_document_id",
        "weight",
        "provenance",
        "document_id",
    )
    list_filter = ("label", "provenance", ("workspace", admin.RelatedOnlyFieldListFilter))
    search_fields = ("label", "source_entity__name", "target_entity__name")
    list_select_related = ("source_entity", "target_entity")
    show_full_result_count = False
    fields = (*list_display, "properties", "workspace", "created_at")
    readonly_fields = fields


@admin.register(ExtractionRun)
class ExtractionRunAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("document_id", "extractor", "entities", "relations", "facts", "workspace", "updated_at")
    list_filter = ("extractor", ("workspace", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=document_id",)
    fields = ("workspace", "document_id", "extractor", "content_hash", "config_hash", "entities", "relations", "facts")
    readonly_fields = fields
    actions = ["reextract"]

    def has_reextract_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    @admin.action(description="Re-extract these documents", permissions=["reextract"])
    def reextract(self, request: HttpRequest, queryset: QuerySet[ExtractionRun]) -> None:
        by_workspace: dict[int, set[int]] = defaultdict(set)
        for ws, doc_id in _writable_by_workspace(self, request, queryset).values_list("workspace_id", "document_id"):
            by_workspace[ws].add(doc_id)
        queued = sum(
            services.documents_reextract(workspace_id=ws, document_ids=sorted(ids), actor=request.user)
            for ws, ids in by_workspace.items()
        )
        self.message_user(request, f"Queued {queued} document(s) for extraction.", messages.SUCCESS)
