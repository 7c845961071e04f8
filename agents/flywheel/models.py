"""The flywheel's tables: interaction events (a range-partitioned table created by migration
0001_flywheel, one partition per UTC day), feedback on them, and daily metrics per agent.

Events carry agent, agent version, conversation and user as plain integer columns: no foreign
key points into or out of the partitioned table, so partitions can be dropped cheaply after the
retention period. Their ids come from one sequence, so an id is unique across partitions (the
table's primary key is ``(id, occurred_at)``, as PostgreSQL requires the partition key in it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["AgentDailyMetric", "Feedback", "InteractionEvent"]


class InteractionEvent(models.Model):
    """One agent interaction. ``managed = False``: the table, its partitions and its sequence
    are created by SQL (migration 0001_flywheel, ``agents.flywheel.partitions``). Django sees
    ``id`` as the primary key, which is true in effect: the sequence makes it unique."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    workspace_id = models.BigIntegerField()
    agent_id = models.BigIntegerField()
    agent_version = models.IntegerField()
    conversation_id = models.BigIntegerField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    query = models.TextField()
    retrieved_ids = models.JSONField(default=list)
    answer = models.TextField()
    citations = models.JSONField(default=list)
    latency_ms = models.JSONField(default=dict)
    model = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "agents_interaction_event"
        ordering = ["-occurred_at", "-id"]
        verbose_name = "interaction event"

    def __str__(self) -> str:
        return f"event {self.id} (agent {self.agent_id} v{self.agent_version})"


class Feedback(models.Model):
    """A user's judgement of one interaction: any of thumbs, a 1-5 rating, a correction and an
    outcome. One row per (event, user); giving feedback again updates it."""

    class Thumbs(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Edited"
        REJECTED = "rejected", "Rejected"

    workspace = models.ForeignKey("core.Workspace", on_delete=models.CASCADE, related_name="+")
    event_id = models.BigIntegerField(db_index=True)
    event_occurred_at = models.DateTimeField()
    agent_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    thumbs = models.CharField(max_length=4, choices=Thumbs.choices, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    correction = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["workspace", "agent_id", "event_occurred_at"], name="agents_fb_ws_agent_time")]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "user"], name="agents_feedback_event_user_uniq"),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="agents_feedback_rating_1_5",
            ),
            models.CheckConstraint(
                condition=~models.Q(thumbs="", rating__isnull=True, correction="", outcome=""),
                name="agents_feedback_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"feedback on event {self.event_id}"


class AgentDailyMetric(models.Model):
    """One agent's numbers for one UTC day, recomputed (replaced) by ``metrics.aggregate_day``."""

    workspace = models.ForeignKey("core.Workspace", on_delete=models.CASCADE, related_name="+")
    agent_id = models.BigIntegerField()
    day = models.DateField()
    interactions = models.PositiveIntegerField(default=0)
    judged = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    edited = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    acceptance_rate = models.FloatField(null=True, blank=True)
    rejection_rate = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    retrieval_hit_rate = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "agent_id", "day"], name="agents_daily_metric_uniq"),
        ]

    def __str__(self) -> str:
        return f"agent {self.agent_id} on {self.day}"
