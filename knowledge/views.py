"""Knowledge pages: entities, the entity page, the graph explorer (and its JSON), the staff
Cypher console. Thin: parse the request, call one selector, render. Every page needs a signed-in
member of the workspace and shows only that workspace."""

from __future__ import annotations

from dataclasses import asdict

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.permissions import WRITE_ROLES, has_role, workspace_required
from knowledge import console, pages, selectors
from knowledge.forms import ConsoleForm, ExploreForm

knowledge_page = workspace_required(
    section="Knowledge", explanation="Entities live in a workspace, and you are not a member of any."
)


@knowledge_page
def entity_list(request: HttpRequest) -> HttpResponse:
    ws = request.workspace.id
    q, type_name = request.GET.get("q", ""), request.GET.get("type", "")
    page = pages.entity_list(workspace_id=ws, q=q, type_name=type_name, page=request.GET.get("page"))
    types = pages.entity_types(workspace_id=ws)
    return render(request, "knowledge/entity_list.html", {"page": page, "q": q, "type": type_name, "types": types})


@knowledge_page
def entity_detail(request: HttpRequest, entity_id: int) -> HttpResponse:
    page = pages.entity_page(workspace_id=request.workspace.id, entity_id=entity_id)
    if page is None:
        raise Http404("No such entity in this workspace.")
    return render(request, "knowledge/entity_detail.html", {"p": page, "entity": page.entity})


@knowledge_page
def explore(request: HttpRequest) -> HttpResponse:
    form = ExploreForm(request.GET or None)
    return render(request, "knowledge/explore.html", {"form": form})


@knowledge_page
def graph_json(request: HttpRequest) -> JsonResponse:
    """``?key=K&depth=1&labels=A,B``: the node's neighbourhood for the explorer (400 for bad
    parameters, 404 for a node not in the workspace)."""
    form = ExploreForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    try:
        nodes, edges = selectors.subgraph(
            workspace_id=request.workspace.id, key=data["key"], depth=data["depth"], labels=data["labels"]
        )
    except selectors.GraphQueryError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except selectors.NodeMissing:
        return JsonResponse({"error": "no such node in this workspace"}, status=404)
    return JsonResponse({"nodes": [asdict(n) for n in nodes], "edges": [asdict(e) for e in edges]})


@knowledge_page
def cypher_console(request: HttpRequest) -> HttpResponse:
    """Staff only, and only in a workspace where the user may write: read-only Cypher with bound
    parameters, a statement timeout, results limited to the workspace's nodes and edges."""
    if not request.user.is_staff or not has_role(
        user=request.user, workspace_id=request.workspace.id, roles=WRITE_ROLES
    ):
        raise PermissionDenied("The Cypher console is for staff editors of this workspace.")
    form = ConsoleForm(request.POST or None)
    result, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = console.run(
                    workspace_id=request.workspace.id,
                    query=form.cleaned_data["query"],
                    params=form.cleaned_data["params"],
                )
            except console.ConsoleError as exc:
                form.add_error(None, str(exc))
                status = 400
        else:
            status = 400
    return render(request, "knowledge/console.html", {"form": form, "result": result}, status=status)
