"""Workspace permissions, for every app: which workspace a request works in, which role the
user has there, and the view decorator that requires a workspace.

    from core.permissions import can_write, workspace_required

    @workspace_required
    def page(request):
        if request.method == "POST" and not can_write(request):
            raise PermissionDenied(...)

``request.workspace`` is set (lazily) by ``core.middleware.WorkspaceMiddleware`` with
``resolve_workspace``: the workspace chosen in the session if the user is a member of it, else
the user's first one, else None.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core import selectors
from core.models import Membership, Workspace

SESSION_KEY = "strata_workspace_id"
#: Who may do what in a workspace: viewers read, editors (and owners) write its content,
#: owners manage its members and the workspace itself (pages and admin alike).
WRITE_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.EDITOR})
MANAGE_ROLES = frozenset({Membership.Role.OWNER})

View = Callable[..., HttpResponse]


def user_workspaces(request: HttpRequest) -> list[Workspace]:
    """The signed-in user's workspaces by name, read once per request (the workspace the request
    works in and the page's workspace switcher both come from this one query)."""
    user = request.user
    if not user.is_authenticated:
        return []
    cached = getattr(request, "_strata_user_workspaces", None)
    if cached is None:
        cached = list(selectors.workspaces_for_user(user=user))
        request._strata_user_workspaces = cached
    return cached


def resolve_workspace(request: HttpRequest) -> Workspace | None:
    """The workspace the signed-in user works in: the one chosen in the session if the user is
    a member of it, else the user's first one; None for anonymous users and non-members."""
    workspaces = user_workspaces(request)
    chosen = request.session.get(SESSION_KEY) if workspaces else None
    if chosen is not None:
        found = next((w for w in workspaces if str(w.pk) == str(chosen)), None)
        if found is not None:
            return found
    return workspaces[0] if workspaces else None


def has_role(*, user: Any, workspace_id: int, roles: Collection[str]) -> bool:
    """Whether ``user`` is a member of the workspace with one of ``roles``."""
    return selectors.membership_role(user=user, workspace_id=workspace_id) in roles


def can_write(request: HttpRequest) -> bool:
    """Whether the request's user may change data in ``request.workspace`` (owner or editor)."""
    return has_role(user=request.user, workspace_id=request.workspace.id, roles=WRITE_ROLES)


def workspace_required(view: View | None = None, *, section: str = "", explanation: str = "") -> Any:
    """Login required; a user without a workspace gets a friendly "no workspace yet" page
    (titled ``section``, saying ``explanation``) instead of the view.

    Use bare (``@workspace_required``) or with arguments (``@workspace_required(section=...)``)."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.workspace:
                context = {"section": section, "explanation": explanation}
                return render(request, "core/no_workspace.html", context)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate if view is None else decorate(view)
