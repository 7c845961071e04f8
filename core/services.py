"""Writes of core data: workspaces, memberships, audit entries and outbox events.

Services take keyword-only arguments and run inside ``transaction.atomic`` so callers can
compose them into one larger transaction.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.models import AuditEntry, Membership, OutboxEvent, Workspace


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor_repr": "" if actor is None else str(actor)}
    return {"actor_id": actor.pk, "actor_repr": actor.get_username()}


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any,
    workspace_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log (in the caller's transaction)."""
    return AuditEntry.objects.create(
        workspace_id=workspace_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        changes=json.loads(json.dumps(changes or {}, cls=DjangoJSONEncoder)),
        **_actor_fields(actor),
    )


def outbox_publish(*, event_type: str, payload: dict[str, Any], workspace_id: int | None = None) -> OutboxEvent:
    """Record an event in the caller's transaction; it is delivered after commit.

    Delivery is by the Celery relay (``core.tasks.outbox_relay``): kicked once the
    transaction commits, and by Celery beat every few seconds as a safety net.
    """
    from core import outbox

    event = OutboxEvent.objects.create(
        event_type=event_type,
        payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
        workspace_id=workspace_id,
        available_at=timezone.now(),
    )
    _kick_relay_once_on_commit(outbox.kick_relay)
    return event


def _kick_relay_once_on_commit(kick: Any) -> None:
    """One relay kick per transaction, however many events it records."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(entry[1] is kick for entry in connection.run_on_commit):
        return
    transaction.on_commit(kick)


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
