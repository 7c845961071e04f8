"""Agents and their versions: create an agent, change its configuration (every change writes a
new, immutable ``AgentVersion``), and read the configuration a version had.

The configuration is what produced an answer: instructions, content search mode, graph-aware
retrieval and memory on or off, the LLM backend's name and the allowed tools."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from agents.models import SEARCH_MODES, Agent, AgentVersion

MAX_TOOLS = 32


class AgentError(ValueError):
    """A bad agent configuration (the message says what to fix)."""


@dataclass(frozen=True)
class AgentConfig:
    name: str
    instructions: str = ""
    search_mode: str = "hybrid"
    use_graph: bool = True
    use_memory: bool = True
    llm_backend: str = "default"
    tools: tuple[str, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "tools": list(self.tools)}


def check(config: AgentConfig) -> AgentConfig:
    """The configuration, normalized; AgentError says what to fix."""
    name = " ".join(str(config.name).split())
    if not 1 <= len(name) <= 100:
        raise AgentError("an agent needs a name of 1-100 characters")
    if config.search_mode not in SEARCH_MODES:
        raise AgentError(f"search mode must be one of {', '.join(SEARCH_MODES)}")
    backends = llm_backend_names()
    if config.llm_backend not in backends:
        raise AgentError(f"unknown LLM backend {config.llm_backend!r}: configured are {', '.join(backends)}")
    tools = tuple(dict.fromkeys(str(t).strip() for t in config.tools if str(t).strip()))
    allowed = tuple(getattr(settings, "STRATA_AGENTS_TOOLS", ()) or ())
    unknown = [t for t in tools if t not in allowed]
    if unknown or len(tools) > MAX_TOOLS:
        raise AgentError(f"unknown tools {', '.join(unknown)}: available are {', '.join(allowed) or 'none'}")
    if len(config.instructions) > 20_000:
        raise AgentError("instructions are limited to 20,000 characters")
    return replace(config, name=name, tools=tools)


def llm_backend_names() -> list[str]:
    """The LLM backends an agent may name: "default" (the configured one, or the offline
    extractive responder) and every alias of ``STRATA_AGENTS_LLM`` when it maps names to backends."""
    conf = getattr(settings, "STRATA_AGENTS_LLM", None) or {}
    names = ["default", "offline"]
    if conf and "BACKEND" not in conf:
        names += [name for name in conf if name not in names]
    return names


def config_of(agent: Agent) -> AgentConfig:
    return AgentConfig(
        name=agent.name,
        instructions=agent.instructions,
        search_mode=agent.search_mode,
        use_graph=agent.use_graph,
        use_memory=agent.use_memory,
        llm_backend=agent.llm_backend,
        tools=tuple(agent.tools),
    )


@transaction.atomic
def agent_create(*, workspace_id: int, config: AgentConfig, user_id: int | None = None) -> Agent:
    config = check(config)
    try:
        with transaction.atomic():
            agent = Agent.objects.create(workspace_id=workspace_id, version=1, **_fields(config))
    except IntegrityError:
        raise AgentError(f"this workspace already has an agent named {config.name!r}") from None
    AgentVersion.objects.create(agent=agent, number=1, config=config.as_json(), created_by_id=user_id)
    return agent


@transaction.atomic
def agent_update(*, workspace_id: int, agent_id: int, config: AgentConfig, user_id: int | None = None) -> Agent:
    """Change the agent's configuration: a new version when anything changed (the same
    configuration again writes nothing)."""
    config = check(config)
    agent = Agent.objects.select_for_update().filter(pk=agent_id, workspace_id=workspace_id).first()
    if agent is None:
        raise AgentError("no such agent in this workspace")
    if config_of(agent) == config:
        return agent
    for name, value in _fields(config).items():
        setattr(agent, name, value)
    agent.version += 1
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise AgentError(f"this workspace already has an agent named {config.name!r}") from None
    AgentVersion.objects.create(agent=agent, number=agent.version, config=config.as_json(), created_by_id=user_id)
    return agent


def _fields(config: AgentConfig) -> dict[str, Any]:
    data = config.as_json()
    return data


def agent_get(*, workspace_id: int, agent_id: int) -> Agent | None:
    return Agent.objects.filter(pk=agent_id, workspace_id=workspace_id).first()


def agent_list(*, workspace_id: int) -> list[Agent]:
    return list(Agent.objects.filter(workspace_id=workspace_id).order_by("name", "id")[:500])


def version_config(*, workspace_id: int, agent_id: int, number: int) -> AgentConfig | None:
    """The configuration of one version of the agent (None when there is no such version)."""
    row = (
        AgentVersion.objects.filter(agent_id=agent_id, agent__workspace_id=workspace_id, number=number)
        .values_list("config", flat=True)
        .first()
    )
    if row is None:
        return None
    return AgentConfig(**{**row, "tools": tuple(row.get("tools") or ())})
