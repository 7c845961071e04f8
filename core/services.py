"""Writes of core data: workspaces, memberships, audit entries and outbox events.

Services take keyword-only arguments and run inside ``transaction.atomic`` so callers can
compose them into one larger transaction. ``audit_record`` (``core.audit``) and
``outbox_publish`` (``core.outbox.publish``) are re-exported here for every app's services.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from core.audit import audit_record
from core.models import Membership, Workspace
from core.outbox import publish as outbox_publish

__all__ = [
    "audit_record",
    "membership_add",
    "membership_remove",
    "outbox_publish",
    "workspace_create",
    "workspace_delete",
    "workspace_rename",
]

#: published by ``workspace_delete`` in the deleting transaction; each app's handlers remove the
#: workspace's projections (bodies, vectors, graph nodes, full-text tables) from every store.
#: Payload: ``{"workspace_id", "name", "slug"}``; handlers must not need the (deleted) rows.
EVENT_WORKSPACE_DELETED = "core.workspace.deleted"


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: Any, slug: str | None = None) -> Workspace:
    name = (name or "").strip()
    if not name:
        raise ValueError("a workspace needs a name")
    workspace = Workspace.objects.create(name=name, slug=slug or _unique_slug(name))
    Membership.objects.create(user=owner, workspace=workspace, role=Membership.Role.OWNER)
    audit_record(
        actor=owner,
        action="workspace.create",
        object_type="core.Workspace",
        object_id=workspace.pk,
        workspace_id=workspace.pk,
        changes={"name": name},
    )
    return workspace


@transaction.atomic
def membership_add(
    *, workspace: Workspace, user: Any, role: str = Membership.Role.EDITOR, actor: Any = None
) -> Membership:
    if role not in Membership.Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {Membership.Role.values}")
    membership, created = Membership.objects.update_or_create(user=user, workspace=workspace, defaults={"role": role})
    audit_record(
        actor=actor,
        action="membership.add" if created else "membership.change",
        object_type="core.Membership",
        object_id=membership.pk,
        workspace_id=workspace.pk,
        changes={"user": user.get_username(), "role": role},
    )
    return membership


@transaction.atomic
def workspace_rename(*, workspace: Workspace, name: str, actor: Any = None) -> Workspace:
    name = (name or "").strip()
    if not name:
        raise ValueError("a workspace needs a name")
    old = Workspace.objects.select_for_update().values_list("name", flat=True).get(pk=workspace.pk)
    if old != name:
        Workspace.objects.filter(pk=workspace.pk).update(name=name)
        audit_record(
            actor=actor,
            action="workspace.rename",
            object_type="core.Workspace",
            object_id=workspace.pk,
            workspace_id=workspace.pk,
            changes={"name": [old, name]},
        )
    workspace.name = name
    return workspace


@transaction.atomic
def membership_remove(*, workspace: Workspace, user: Any, actor: Any = None) -> bool:
    deleted, _ = Membership.objects.filter(workspace=workspace, user=user).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="membership.remove",
            object_type="core.Membership",
            object_id=f"{workspace.pk}:{user.pk}",
            workspace_id=workspace.pk,
            changes={"user": user.get_username()},
        )
    return bool(deleted)


@transaction.atomic
def workspace_delete(*, workspace: Workspace, actor: Any = None) -> None:
    """Delete the workspace and every row it owns (the foreign keys cascade), with an audit entry
    and the ``EVENT_WORKSPACE_DELETED`` event, all in one transaction. The apps' projections of
    the event then clear the stores: inline (in this transaction) for a store on the database,
    from the outbox after the commit for a dedicated one. The audit log keeps its entries."""
    row = Workspace.objects.select_for_update().filter(pk=workspace.pk).values("name", "slug").first()
    if row is None:
        return  # already gone (a second request, or a double-submitted admin form)
    audit_record(
        actor=actor,
        action="workspace.delete",
        object_type="core.Workspace",
        object_id=workspace.pk,
        workspace_id=workspace.pk,
        changes=row,
    )
    outbox_publish(
        event_type=EVENT_WORKSPACE_DELETED,
        payload={"workspace_id": workspace.pk, **row},
        workspace_id=workspace.pk,
    )
    Workspace.objects.filter(pk=workspace.pk).delete()
