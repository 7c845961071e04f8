"""Per-agent and per-conversation state with optimistic concurrency.

A state is a JSON object with a version. ``state_read`` returns both (from the DocumentStore
projection); ``state_write`` names the version it read and replaces the object only when that
is still the current version (one conditional UPDATE, so two writers that read the same version
cannot both win): the loser gets ``StaleState`` with the current version, and nothing is lost.
The row is the record; the ``agents.state`` document is projected from it in the same
transaction (or after it, from the outbox, for a dedicated document store)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from agents import stores
from agents.models import Agent, Conversation, State
from core import outbox
from core.storage import validation
from core.storage.ports import InvalidInput, UnknownCollection

EVENT_STATE_CHANGED = "agents.state.changed"


class StateError(ValueError):
    """A bad state write (not a JSON object, too large, unknown owner)."""


class StaleState(StateError):
    """The state changed since it was read: read it again and retry."""

    def __init__(self, scope: str, scope_id: int, expected: int, current: int) -> None:
        super().__init__(
            f"the {scope} {scope_id} state is at version {current}, not {expected}: "
            "someone else changed it meanwhile; read it again and retry"
        )
        self.expected, self.current = expected, current


@dataclass(frozen=True)
class StateView:
    scope: str
    scope_id: int
    version: int
    data: dict[str, Any]


def _owner_exists(workspace_id: int, scope: str, scope_id: int) -> bool:
    model = {State.Scope.AGENT: Agent, State.Scope.CONVERSATION: Conversation}.get(scope)
    if model is None:
        raise StateError(f"scope must be 'agent' or 'conversation', not {scope!r}")
    return model.objects.filter(pk=scope_id, workspace_id=workspace_id).exists()


def state_read(*, workspace_id: int, scope: str, scope_id: int) -> StateView:
    """The current state (version 0 and ``{}`` before the first write)."""
    if not _owner_exists(workspace_id, scope, scope_id):
        raise StateError(f"no such {scope} in this workspace")
    try:
        body = stores.documents().get(stores.STATE, stores.state_id(scope, scope_id))
    except UnknownCollection:
        body = None
    if body is None or int(body.get("workspace_id", -1)) != workspace_id:
        return StateView(scope, scope_id, 0, {})
    return StateView(scope, scope_id, int(body["version"]), dict(body.get("data") or {}))


@transaction.atomic
def state_write(*, workspace_id: int, scope: str, scope_id: int, expected_version: int, data: Any) -> StateView:
    """Replace the state if it is still at ``expected_version``; raises ``StaleState`` when it
    is not (the other writer's state stays)."""
    try:
        data = json.loads(validation.json_object_text(data, what="state", max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES))
    except InvalidInput as exc:
        raise StateError(str(exc)) from None
    if not _owner_exists(workspace_id, scope, scope_id):
        raise StateError(f"no such {scope} in this workspace")
    expected = int(expected_version)
    if expected == 0:
        try:
            with transaction.atomic():
                State.objects.create(workspace_id=workspace_id, scope=scope, scope_id=scope_id, version=1, data=data)
        except IntegrityError:
            current = State.objects.filter(scope=scope, scope_id=scope_id).values_list("version", flat=True).first()
            raise StaleState(scope, scope_id, expected, int(current or 0)) from None
        version = 1
    else:
        updated = State.objects.filter(
            workspace_id=workspace_id, scope=scope, scope_id=scope_id, version=expected
        ).update(data=data, version=F("version") + 1)
        if not updated:
            current = State.objects.filter(scope=scope, scope_id=scope_id).values_list("version", flat=True).first()
            raise StaleState(scope, scope_id, expected, int(current or 0))
        version = expected + 1
    outbox.publish(
        event_type=EVENT_STATE_CHANGED,
        payload={"workspace_id": workspace_id, "scope": scope, "scope_id": scope_id},
        workspace_id=workspace_id,
    )
    return StateView(scope, scope_id, version, dict(data))
