"""Reads of core data. Every function takes its scope (user / workspace) explicitly."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Min, Q, QuerySet
from django.utils.module_loading import import_string

from core.models import AuditEntry, Membership, OutboxEvent, Workspace


def workspaces_for_user(*, user: Any, roles: Collection[str] | None = None) -> QuerySet[Workspace]:
    """The workspaces ``user`` is a member of (with one of ``roles``, when given)."""
    if not getattr(user, "is_authenticated", False):
        return Workspace.objects.none()
    if roles is None:
        return Workspace.objects.filter(memberships__user=user).order_by("name")
    return Workspace.objects.filter(memberships__user=user, memberships__role__in=list(roles)).order_by("name")


def workspace_ids_for_user(*, user: Any, roles: Collection[str] | None = None) -> list[int]:
    return list(workspaces_for_user(user=user, roles=roles).values_list("id", flat=True))


def users_sharing_a_workspace(*, user: Any) -> QuerySet:
    """The users who are members of a workspace ``user`` is a member of (``user`` included)."""
    User = get_user_model()
    if not getattr(user, "is_authenticated", False):
        return User._default_manager.none()
    shared = Membership.objects.filter(workspace__memberships__user=user).values("user_id")
    return User._default_manager.filter(pk__in=shared).order_by(User.USERNAME_FIELD)


def workspace_for_user(*, user: Any, workspace_id: int | str | None = None) -> Workspace | None:
    """The workspace ``workspace_id`` if the user is a member, else the user's first one."""
    workspaces = workspaces_for_user(user=user)
    if workspace_id is not None:
        try:
            chosen = workspaces.filter(pk=int(workspace_id)).first()
        except (TypeError, ValueError):
            chosen = None
        if chosen is not None:
            return chosen
    return workspaces.first()


def membership_role(*, user: Any, workspace_id: int) -> str | None:
    return Membership.objects.filter(user=user, workspace_id=workspace_id).values_list("role", flat=True).first()


def workspace_summary(*, workspace_id: int) -> list[dict[str, Any]]:
    """What is in a workspace: one entry per registered summary selector (settings)."""
    sections: list[dict[str, Any]] = [
        {
            "title": "Activity",
            "items": [
                ("Audit entries", AuditEntry.objects.filter(workspace_id=workspace_id).count()),
                (
                    "Outbox events pending",
                    OutboxEvent.objects.filter(workspace_id=workspace_id, status=OutboxEvent.Status.PENDING).count(),
                ),
                (
                    "Dead letters",
                    OutboxEvent.objects.filter(workspace_id=workspace_id, status=OutboxEvent.Status.DEAD).count(),
                ),
            ],
        }
    ]
    for path in settings.STRATA_WORKSPACE_SUMMARIES:
        sections.append(import_string(path)(workspace_id=workspace_id))
    return sections


def audit_entries(*, workspace_id: int, limit: int = 20) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(workspace_id=workspace_id)[:limit])


def outbox_backlog() -> dict[str, Any]:
    """Pending and dead-letter counts across all workspaces, and the oldest pending event's due time."""
    counts = OutboxEvent.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxEvent.Status.PENDING)),
        dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
        oldest_pending=Min("available_at", filter=Q(status=OutboxEvent.Status.PENDING)),
    )
    return counts
