"""Admin for documents and chunks, scoped to the signed-in user's workspaces.

Documents are written only through ``content.services``: the add form ingests, deletes go
through ``document_delete`` (so the body, vectors and graph node go too), and the change page
is read-only. Chunks are read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import Truncator

from content import selectors, services
from content.forms import DocumentAddForm, parse_metadata_filter
from content.models import Chunk, Document
from core import selectors as core_selectors
from core.admin import ReadOnlyAdminMixin, pretty_json
from core.admin_mixins import WorkspaceScopedAdmin
from core.models import Workspace


class MetadataFilter(admin.SimpleListFilter):
    """Documents whose metadata (in the DocumentStore) contains ``key=value`` pairs or a JSON object."""

    title = "metadata"
    parameter_name = "metadata"
    template = "admin/content/metadata_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
            "value": self.value() or "",
            "hidden": [(k, v) for k, v in changelist.params.items() if k != self.parameter_name],
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> QuerySet[Document]:
        try:
            wanted = parse_metadata_filter(self.value())
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from None
        if not wanted:
            return queryset
        return queryset.filter(pk__in=selectors.document_ids_matching_metadata(workspace_id=None, metadata=wanted))


@admin.register(Document)
class DocumentAdmin(WorkspaceScopedAdmin):
    class Media:
        css = {"all": ("content/admin/metadata_filter.css",)}

    list_display = ("title", "external_id", "workspace", "status", "content_type", "embedding_model", "chunk_count")
    list_filter = (
        "status",
        "content_type",
        "embedding_model",
        ("workspace", admin.RelatedOnlyFieldListFilter),
        MetadataFilter,
    )
    search_fields = ("title", "external_id")
    list_select_related = ("workspace",)
    show_full_result_count = False
    fields = (
        "workspace",
        "external_id",
        "title",
        "source",
        "content_type",
        "status",
        "embedding_model",
        "chunk_count",
        "char_count",
        "content_hash",
        "created_at",
        "updated_at",
        "body_",
    )
    readonly_fields = fields
    actions = ["reembed_documents"]

    # -- documents change only through the services: the change page is a read-only view
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_reembed_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("content.change_document") and self.can_write(request)

    @admin.display(description="stored body (DocumentStore)")
    def body_(self, obj: Document) -> str:
        return pretty_json(selectors.document_body(workspace_id=obj.workspace_id, document_id=obj.pk))

    # -- add: a plain form handed to the ingest service
    def _workspaces(self, request: HttpRequest) -> QuerySet[Workspace]:
        """The workspaces the user may add documents to (editor or owner)."""
        if request.user.is_superuser:
            return Workspace.objects.order_by("name")
        return core_selectors.workspaces_for_user(user=request.user, roles=self.write_roles)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DocumentAddForm(request.POST or None, workspaces=self._workspaces(request))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            item = services.IngestItem(
                external_id=data["external_id"],
                title=data["title"],
                text=data["text"],
                metadata=data["metadata"],
                content_type=data["content_type"],
                source=data["source"],
            )
            report = services.document_ingest(
                workspace_id=data["workspace"].pk, items=[item], actor=request.user, embed=data["embed"]
            )
            result = report.results[0]
            if result.error or not result.document_id:
                form.add_error(None, result.error or f"The document was not stored ({result.outcome}).")
            else:
                document = Document.objects.get(pk=result.document_id)
                self.log_addition(request, document, [{"added": {}}])
                self.message_user(request, f"Document “{document}”: {result.outcome}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:content_document_change", args=[document.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Add document",
            "subtitle": None,
            "form": form,
            "opts": self.opts,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/content/document/add_form.html", context)

    # -- delete: through the service, so the body, vectors and graph node go with the row
    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(workspace_id=obj.workspace_id, document_id=obj.pk, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        if self.writable(request, queryset).count() != queryset.count():
            raise PermissionDenied("Viewers cannot delete documents.")
        for workspace_id, document_id in queryset.values_list("workspace_id", "id"):
            services.document_delete(workspace_id=workspace_id, document_id=document_id, actor=request.user)

    def get_deleted_objects(self, objs: Iterable[Document], request: HttpRequest) -> tuple[list, dict, set, list]:
        # The service removes the chunks, vectors, body and graph node; list the documents only
        # (Django's collector would also require delete permission on the read-only Chunk admin).
        objs = list(objs)
        described = [f"{obj} ({obj.chunk_count} chunks with their vectors, stored body, graph node)" for obj in objs]
        # Documents of workspaces where the user is a viewer make Django refuse the whole deletion.
        refused = {
            f"documents of {obj.workspace} (you are a viewer there)"
            for obj in objs
            if not self.has_delete_permission(request, obj)
        }
        return described, {Document._meta.verbose_name_plural: len(objs)}, refused, []

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                delete_documents,
                "delete_selected",
                "Delete selected documents (from every store)",
            )
        return actions

    @admin.action(description="Re-embed selected documents", permissions=["reembed"])
    def reembed_documents(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        writable = self.writable(request, queryset)
        skipped = queryset.count() - writable.count()
        if skipped:
            self.message_user(
                request,
                f"{skipped} document(s) of workspaces where you are a viewer were left alone.",
                messages.WARNING,
            )
        by_workspace: dict[int, list[int]] = {}
        for workspace_id, document_id in writable.values_list("workspace_id", "id"):
            by_workspace.setdefault(workspace_id, []).append(document_id)
        done = 0
        for workspace_id, document_ids in by_workspace.items():
            done += services.documents_reembed(workspace_id=workspace_id, document_ids=document_ids)
        self.message_user(request, f"Re-embedded {done} document(s).", messages.SUCCESS)


def delete_documents(modeladmin: DocumentAdmin, request: HttpRequest, queryset: QuerySet[Document]) -> Any:
    """Django's confirm-then-delete action; the deleting is ``DocumentAdmin.delete_queryset``."""
    return delete_selected(modeladmin, request, queryset)


delete_documents.allowed_permissions = ("delete",)  # type: ignore[attr-defined]


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("document", "ordinal", "start_offset", "end_offset", "token_count", "embedding_model", "passage")
    list_filter = ("embedding_model",)
    search_fields = ("document__title", "document__external_id")
    list_select_related = ("document",)
    show_full_result_count = False
    fields = (
        "workspace",
        "document",
        "ordinal",
        "start_offset",
        "end_offset",
        "token_count",
        "embedding_model",
        "embedded_at",
        "text",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        return super().get_queryset(request).defer("search_vector")

    @admin.display(description="passage")
    def passage(self, obj: Chunk) -> str:
        return Truncator(obj.text).chars(120)
