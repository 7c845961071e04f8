"""Agents domain: agents, conversations, state, memory and interaction events (a later issue).

Nothing here yet."""

# The usage-analytics flywheel's models live in agents/flywheel/ (registered with this app).
from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent  # noqa: E402,F401
