"""Content pages: the document list with the upload form, search, and the document page.

Thin: parse the request with a form, call one selector or service, render. Every page needs a
signed-in user and works inside ``request.workspace`` (set by core's middleware).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils.module_loading import import_string
from django.utils.safestring import mark_safe

from content import caching, parsers, selectors, services
from content.forms import SearchForm, UploadForm
from content.models import Document
from core.permissions import can_write, workspace_required
from core.storage.ports import InvalidInput

#: Login and a workspace required (core's permission check, with this section's wording).
content_page = workspace_required(
    section="Content", explanation="Documents live in a workspace, and you are not a member of any."
)
RESULTS_PER_PAGE = 20
#: Failed items of one upload shown one by one; the rest are counted.
MAX_FAILURE_MESSAGES = 10


@content_page
def document_list(request: HttpRequest) -> HttpResponse:
    """The workspace's documents and the upload form. A valid upload redirects back here
    (post/redirect/get) with its outcome in messages, so a refresh never uploads twice."""
    workspace = request.workspace
    writable = can_write(request)
    status_code = 200
    if request.method == "POST":
        if not writable:
            raise PermissionDenied("Viewers cannot add documents; a workspace owner can make you an editor.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            files = form.cleaned_data["files"]
            items, parse_errors = parsers.parse_uploads(files)
            report = None
            if items:
                report = services.document_ingest(
                    workspace_id=workspace.id, items=items, actor=request.user, embed=form.cleaned_data["embed"]
                )
            _report_upload(request, files=len(files), report=report, parse_errors=parse_errors)
            return redirect("content:document-list")
        status_code = 400
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
            "can_write": writable,
            "status": status or "",
            "q": request.GET.get("q", ""),
            "statuses": Document.Status.choices,
        },
        status=status_code,
    )


def _report_upload(request: HttpRequest, *, files: int, report: Any, parse_errors: list[Any]) -> None:
    """The outcome of an upload as messages: one summary, then each failed item (file:line: why)."""
    counts = report.counts if report is not None else dict.fromkeys(services.OUTCOMES, 0)
    failures = [str(error) for error in parse_errors]
    if report is not None:
        failures += [f"{failure.location}: {failure.error}" for failure in report.failed]
    stored = counts["added"] + counts["updated"] + counts["unchanged"]
    summary = (
        f"{files} file{pluralize(files)} uploaded: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {len(failures)} failed."
    )
    if stored and not failures:
        messages.success(request, summary)
    elif stored:
        messages.warning(request, summary)
    else:
        messages.error(request, f"Nothing was added. {summary}")
    for failure in failures[:MAX_FAILURE_MESSAGES]:
        messages.error(request, failure)
    if len(failures) > MAX_FAILURE_MESSAGES:
        messages.error(request, f"… and {len(failures) - MAX_FAILURE_MESSAGES} more failures.")


@content_page
def document_statuses(request: HttpRequest) -> JsonResponse:
    """``?ids=1,2,3``: the embedding status of those documents of the workspace, for the pages
    that refresh it in place (content/static/content/status.js)."""
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.strip()]
    except ValueError:
        return JsonResponse({"error": "ids must be comma-separated document ids"}, status=400)
    rows = selectors.document_statuses(workspace_id=request.workspace.id, document_ids=ids)
    return JsonResponse({"documents": [asdict(row) for row in rows]})


@content_page
def search(request: HttpRequest) -> HttpResponse:
    """Search with pagination: the best ``selectors.MAX_LIMIT`` hits, RESULTS_PER_PAGE a page
    (one cached ranking serves every page, so the pages never disagree; only the page shown is
    highlighted)."""
    form = SearchForm(request.GET or None)
    hits: selectors.SearchResults | None = None
    page = None
    if form.is_valid() and form.cleaned_data["q"].strip():
        try:
            # the ranking of up to MAX_LIMIT hits; passages and headlines only for the page shown
            hits = selectors.search_results(
                workspace_id=request.workspace.id,
                query=form.cleaned_data["q"],
                mode=form.cleaned_data["mode"],
                filters=form.cleaned_data["filters"],
                limit=selectors.MAX_LIMIT,
            )
        except InvalidInput as exc:  # SearchError, or a value a store refused
            form.add_error(None, str(exc))
        else:
            page = Paginator(hits, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "content/search.html",
        {
            "form": form,
            "hits": hits,
            "page": page,
            "best_score": hits.best_score if hits else None,
            "capped": hits is not None and len(hits) >= selectors.MAX_LIMIT,
        },
    )


@content_page
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    """The document page. Its article (text, similar documents, graph, chunks) is rendered once and
    cached under the workspace's content version, like the context it is made of, so a cached
    page costs the session, the user, the workspace and the version (no template work beyond
    the site's frame)."""
    workspace_id = request.workspace.id
    chunks_open = bool(request.GET.get("chunk"))

    # sections other apps add after the article (STRATA_DOCUMENT_PANELS: the knowledge app's entities
    # and relations); they read other apps' data, so they are rendered on every request, not cached
    panel_paths = list(settings.STRATA_DOCUMENT_PANELS)

    def render_article() -> tuple[str, str]:
        context = selectors.document_with_context(workspace_id=workspace_id, document_id=document_id)
        html = render_to_string(
            "content/_document_article.html",
            {
                "ctx": context,
                "document": context.document,
                "chunks_open": chunks_open,
                "panels_shown": bool(panel_paths),
            },
        )
        return context.title, html

    # the relevance floors decide which similar documents show (as in the context's own key)
    floors = sorted((settings.STRATA_RELEVANCE_FLOORS or {}).items())
    try:
        title, article = caching.cached(
            "document-page",
            workspace_id=workspace_id,
            parts=(int(document_id), chunks_open, floors, bool(panel_paths)),
            compute=render_article,
        )
    except Document.DoesNotExist:
        raise Http404("No such document in this workspace.") from None
    article = mark_safe(article)  # noqa: S308 -- rendered (autoescaped) by _document_article.html above
    panels = [import_string(path)(workspace_id=workspace_id, document_id=int(document_id)) for path in panel_paths]
    return render(request, "content/document_detail.html", {"title": title, "article": article, "panels": panels})
