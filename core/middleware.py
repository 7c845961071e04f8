"""Request middleware of the core app.

- ``RejectNulMiddleware``: a request carrying a NUL character in its path, query, form fields
  or cookies is answered 400 before any view runs. PostgreSQL text cannot hold NUL, so such a
  value could only ever end as a database error (a 500) deep inside a page, a filter or the
  admin; refusing it at the edge covers every one of them.
- ``WorkspaceMiddleware`` sets ``request.workspace`` (lazily): see
  ``core.permissions.resolve_workspace``. The choice is kept in the session; only workspaces the
  user is a member of can be chosen.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.functional import SimpleLazyObject

from core.permissions import SESSION_KEY, resolve_workspace

__all__ = ["SESSION_KEY", "RejectNulMiddleware", "WorkspaceMiddleware"]

NUL = "\x00"


def _has_nul(request: HttpRequest) -> bool:
    if NUL in request.path:
        return True
    if any(NUL in key or NUL in value for key, value in request.COOKIES.items()):
        return True
    sources = [request.GET]
    if request.method == "POST":
        sources.append(request.POST)  # form fields only: uploaded files may hold any bytes
    return any(NUL in key or any(NUL in value for value in values) for data in sources for key, values in data.lists())


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return HttpResponseBadRequest(
                "Bad request: a parameter contains a NUL character.", content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = SimpleLazyObject(lambda: resolve_workspace(request))
        return self.get_response(request)
