"""Sets ``request.workspace`` (lazily) for every request: see ``core.permissions.resolve_workspace``.

The choice is kept in the session; only workspaces the user is a member of can be chosen.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from core.permissions import SESSION_KEY, resolve_workspace

__all__ = ["SESSION_KEY", "WorkspaceMiddleware"]


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = SimpleLazyObject(lambda: resolve_workspace(request))
        return self.get_response(request)
