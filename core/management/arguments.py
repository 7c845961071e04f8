"""Argument handling shared by every app's management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from core.models import Workspace


def workspace_argument(value: str) -> Workspace:
    """The workspace named on the command line by its slug (or numeric id); CommandError when
    there is none."""
    value = (value or "").strip()
    workspace = Workspace.objects.filter(slug=value).first()
    if workspace is None and value.isdigit():
        workspace = Workspace.objects.filter(pk=int(value)).first()
    if workspace is None:
        raise CommandError(f"unknown workspace {value!r} (give its slug or id)")
    return workspace
