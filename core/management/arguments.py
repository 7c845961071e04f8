"""Argument handling shared by every app's management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from core.models import Workspace

_LISTED = 10  # workspaces an "unknown workspace" error names


def workspace_argument(value: str) -> Workspace:
    """The workspace named on the command line by its slug (or numeric id); CommandError when
    there is none."""
    value = (value or "").strip()
    workspace = Workspace.objects.filter(slug=value).first()
    if workspace is None and value.isascii() and value.isdigit():
        workspace = Workspace.objects.filter(pk=int(value)).first()
    if workspace is None:
        known = list(Workspace.objects.order_by("pk").values_list("slug", "pk")[: _LISTED + 1])
        listed = ", ".join(f"{slug} (id {pk})" for slug, pk in known[:_LISTED])
        more = ", ..." if len(known) > _LISTED else ""
        hint = f"; workspaces: {listed}{more}" if known else "; there are no workspaces yet"
        raise CommandError(f"unknown workspace {value!r} (give its slug or id{hint})")
    return workspace
