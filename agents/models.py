"""Agents rows: agents and their immutable versions, conversations and their messages, state
records (per agent and per conversation, with a version for optimistic concurrency) and
long-term memories.

Rows are the record. Messages and state are projected into the agents app's DocumentStore
(``agents/projections.py``: what the chat page reads), memories into its VectorStore (their
embeddings) and GraphStore (their links to knowledge entities). Documents, entities and users
of other apps are referenced by id.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.models import Workspace

SEARCH_MODES = ("hybrid", "semantic", "fulltext", "none")


class Agent(models.Model):
    """A configured agent of a workspace. Its configuration is edited through
    ``agents.services.agent_update``, which writes a new ``AgentVersion`` each time;
    ``version`` is the number of the current one."""

    class SearchMode(models.TextChoices):
        HYBRID = "hybrid", "hybrid (full text + meaning)"
        SEMANTIC = "semantic", "semantic (meaning)"
        FULLTEXT = "fulltext", "full text (BM25)"
        NONE = "none", "no content search"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    instructions = models.TextField(blank=True)
    search_mode = models.CharField(max_length=20, choices=SearchMode.choices, default=SearchMode.HYBRID)
    use_graph = models.BooleanField(default=True, help_text="graph-aware retrieval (the knowledge app)")
    use_memory = models.BooleanField(default=True, help_text="recall and write long-term memories")
    llm_backend = models.CharField(
        max_length=100, default="default", help_text="a name in STRATA_AGENTS_LLM ('default' when one is configured)"
    )
    tools = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="agents_agent_name_unique")]

    def __str__(self) -> str:
        return self.name


class AgentVersion(models.Model):
    """The exact configuration of an agent at one version (never changed once written: an
    interaction records the number of the version that produced it)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    created_by_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="agents_version_unique")]

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.number}"


class Conversation(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    title = models.CharField(max_length=200, blank=True)
    messages_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["workspace", "agent", "user"], name="agents_conv_owner")]

    def __str__(self) -> str:
        return self.title or f"conversation {self.pk}"


class Message(models.Model):
    """One message of a conversation (``seq`` from 1). Its JSON document (role, content,
    citations, tool calls, timing) is what the chat page reads from the DocumentStore."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=20)
    content = models.TextField(blank=True)
    citations = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    timing = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    agent_version = models.PositiveIntegerField(null=True, blank=True)
    #: the flywheel's interaction event of an answer (set once it is recorded): feedback names it
    event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [models.UniqueConstraint(fields=["conversation", "seq"], name="agents_message_seq_unique")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class State(models.Model):
    """The state of an agent (``scope`` "agent") or a conversation ("conversation"): a JSON
    object with a version; a write names the version it read and is refused when it is stale."""

    class Scope(models.TextChoices):
        AGENT = "agent", "agent"
        CONVERSATION = "conversation", "conversation"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=20, choices=Scope.choices)
    scope_id = models.BigIntegerField()
    version = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "scope_id"], name="agents_state_unique")]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_id} v{self.version}"


class Memory(models.Model):
    """A long-term memory of an agent, for one user (``user_id``) or for everyone (null):
    a statement, where it came from, and the knowledge entities it is about (ids). Its
    embedding (VectorStore) and graph node (GraphStore) are projections."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memories")
    user_id = models.IntegerField(null=True, blank=True)
    statement = models.TextField()
    statement_hash = models.CharField(max_length=64)
    source_conversation_id = models.BigIntegerField(null=True, blank=True)
    source_message_seq = models.PositiveIntegerField(null=True, blank=True)
    entity_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    merged_count = models.PositiveIntegerField(default=0, help_text="near-duplicates merged into it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "memories"
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "user_id", "statement_hash"], name="agents_memory_unique", nulls_distinct=False
            )
        ]
        indexes = [models.Index(fields=["workspace", "agent", "user_id"], name="agents_memory_owner")]

    def __str__(self) -> str:
        return self.statement[:80]


# The usage-analytics flywheel's models live in agents/flywheel/ (registered with this app).
from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent  # noqa: E402,F401
