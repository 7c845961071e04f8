"""The audit log's one write: ``audit_record``, in the caller's transaction (append-only: a
database trigger refuses UPDATE and DELETE of audit entries)."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from core.models import AuditEntry


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
