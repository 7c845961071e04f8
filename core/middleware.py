"""Resolves the current workspace for a signed-in user (``request.workspace``).

The choice is kept in the session; only workspaces the user is a member of can be chosen.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from core import selectors

SESSION_KEY = "strata_workspace_id"


def _resolve(request: HttpRequest):
    user = request.user
    if not user.is_authenticated:
        return None
    return selectors.workspace_for_user(user=user, workspace_id=request.session.get(SESSION_KEY))


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = SimpleLazyObject(lambda: _resolve(request))
        return self.get_response(request)
