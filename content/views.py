"""Content pages: the document list with the upload form, search, and the document page.

Thin: parse the request with a form, call one selector or service, render. Every page needs a
signed-in user and works inside ``request.workspace`` (set by core's middleware).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from content import parsers, selectors, services
from content.forms import SearchForm, UploadForm
from content.models import Document
from core.permissions import can_write, workspace_required

#: Login and a workspace required (core's permission check, with this section's wording).
content_page = workspace_required(
    section="Content", explanation="Documents live in a workspace, and you are not a member of any."
)


@content_page
def document_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    report = None
    parse_errors: list[Any] = []
    writable = can_write(request)
    if request.method == "POST":
        if not writable:
            raise PermissionDenied("Viewers cannot add documents.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            items, parse_errors = parsers.parse_uploads(form.cleaned_data["files"])
            if items:
                report = services.document_ingest(
                    workspace_id=workspace.id, items=items, actor=request.user, embed=form.cleaned_data["embed"]
                )
            form = UploadForm()
    else:
        form = UploadForm()
    status = request.GET.get("status")
    if status not in Document.Status.values:
        status = None
    page = selectors.document_list(
        workspace_id=workspace.id, status=status, q=request.GET.get("q"), page=request.GET.get("page") or 1
    )
    return render(
        request,
        "content/document_list.html",
        {
            "page": page,
            "form": form,
            "report": report,
            "parse_errors": parse_errors,
            "can_write": writable,
            "status": status or "",
            "q": request.GET.get("q", ""),
            "statuses": Document.Status.choices,
        },
    )


@content_page
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    hits: list[selectors.SearchHit] | None = None
    if form.is_valid() and form.cleaned_data["q"].strip():
        try:
            hits = selectors.search(
                workspace_id=request.workspace.id,
                query=form.cleaned_data["q"],
                mode=form.cleaned_data["mode"],
                filters=form.cleaned_data["filters"],
                limit=20,
            )
        except selectors.SearchError as exc:
            form.add_error(None, str(exc))
    return render(request, "content/search.html", {"form": form, "hits": hits})


@content_page
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        context = selectors.document_with_context(workspace_id=request.workspace.id, document_id=document_id)
    except Document.DoesNotExist:
        raise Http404("No such document in this workspace.") from None
    return render(request, "content/document_detail.html", {"ctx": context, "document": context.document})
