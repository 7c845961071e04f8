from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.permissions import user_workspaces


def workspace(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = getattr(request, "workspace", None)
    return {
        "current_workspace": current if current else None,
        "user_workspaces": user_workspaces(request),  # the query that found request.workspace
    }
