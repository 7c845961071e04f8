"""Giving feedback on an interaction: thumbs, a 1-5 rating, a correction and an outcome
(accepted, edited, rejected). One row per (event, user): giving feedback again replaces the
parts given and keeps the others."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from agents.flywheel.models import Feedback, InteractionEvent

MAX_CORRECTION = 20_000


class EventMissing(LookupError):
    """No such event in this workspace (or past the retention period)."""


class FeedbackError(ValueError):
    """The feedback itself is not valid (the message says why)."""


def event_owner(*, workspace_id: int, event_id: int) -> tuple[bool, int | None]:
    """(exists in the workspace, the user who had the interaction)."""
    row = InteractionEvent.objects.filter(id=event_id, workspace_id=workspace_id).values_list("user_id").first()
    return (row is not None, row[0] if row else None)


def _check(thumbs: str, rating: int | None, correction: str, outcome: str) -> None:
    if thumbs not in ("", *Feedback.Thumbs.values):
        raise FeedbackError("thumbs must be 'up' or 'down'")
    if outcome not in ("", *Feedback.Outcome.values):
        raise FeedbackError("outcome must be accepted, edited or rejected")
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
        raise FeedbackError("rating must be a whole number from 1 to 5")
    if not isinstance(correction, str) or len(correction) > MAX_CORRECTION or "\x00" in correction:
        raise FeedbackError(f"correction must be text of at most {MAX_CORRECTION} characters")
    if not (thumbs or rating is not None or correction or outcome):
        raise FeedbackError("give at least one of thumbs, rating, correction or outcome")


@transaction.atomic
def feedback_give(
    *,
    workspace_id: int,
    event_id: int,
    user_id: int | None,
    thumbs: str = "",
    rating: int | None = None,
    correction: str = "",
    outcome: str = "",
) -> Feedback:
    """Record (or update) ``user_id``'s feedback on event ``event_id`` of the workspace."""
    _check(thumbs, rating, correction, outcome)
    event = (
        InteractionEvent.objects.filter(id=event_id, workspace_id=workspace_id)
        .values("occurred_at", "agent_id")
        .first()
    )
    if event is None:
        raise EventMissing(f"no event {event_id} in this workspace")
    given: dict[str, Any] = {
        k: v for k, v in {"thumbs": thumbs, "correction": correction, "outcome": outcome}.items() if v
    }
    if rating is not None:
        given["rating"] = rating
    mine = Feedback.objects.select_for_update().filter(event_id=event_id, user_id=user_id)
    feedback = mine.first() if user_id is not None else None
    if feedback is None:
        feedback = Feedback(
            workspace_id=workspace_id,
            event_id=event_id,
            event_occurred_at=event["occurred_at"],
            agent_id=event["agent_id"],
            user_id=user_id,
            **given,
        )
        try:
            with transaction.atomic():
                feedback.save()
            return feedback
        except IntegrityError:  # the same user's first feedback arrived twice at once (a double click)
            if user_id is None:
                raise
            feedback = mine.get()
    for name, value in given.items():
        setattr(feedback, name, value)
    feedback.save()
    return feedback
