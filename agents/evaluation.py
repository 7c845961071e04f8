"""Evaluation: replay accepted and corrected interactions against an agent version and compare
it with another (by default the current version against the previous one), before a change
ships (``manage.py evaluate``).

A replay retrieves and answers exactly as a chat turn would with that version's configuration
(instructions, search mode, graph, memory, LLM backend), but writes nothing: no message, no
event, no memory. Per version it reports:

* **retrieval hit rate**: of the cases whose judged answer cited sources, the share where the
  replay retrieved at least one of them (refs compared as cited: ``doc:<id>``, ``fact:<id>``,
  ``memory:<id>``);
* **answer overlap**: the mean token F1 between the replay's answer and the expected answer
  (the user's correction, else the accepted answer), words compared case-insensitively.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agents import configs, llm, responder

_WORD = re.compile(r"\w+")


class EvaluationError(ValueError):
    """No such agent or version in the workspace."""


@dataclass(frozen=True)
class CaseResult:
    event_id: int
    query: str
    hit: bool | None  # None: the judged answer cited nothing
    overlap: float
    answer: str


@dataclass
class VersionReport:
    version: int
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def hit_rate(self) -> float | None:
        judged = [c.hit for c in self.cases if c.hit is not None]
        return sum(judged) / len(judged) if judged else None

    @property
    def overlap(self) -> float | None:
        return sum(c.overlap for c in self.cases) / len(self.cases) if self.cases else None


def token_f1(answer: str, expected: str) -> float:
    a = Counter(w.casefold() for w in _WORD.findall(answer[:50_000]))
    b = Counter(w.casefold() for w in _WORD.findall(expected[:50_000]))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def replay(*, workspace_id: int, agent_id: int, config: configs.AgentConfig, query: str) -> tuple[set[str], str]:
    """The refs retrieved (as citations name them) and the answer, for ``query``; writes nothing."""
    found = responder.retrieve(
        workspace_id=workspace_id, config=config, user_id=None, agent_id=agent_id, question=query
    )
    refs = {f"doc:{s.document_id}" if s.document_id is not None else s.ref for s in found.sources}
    refs |= set(found.retrieved_ids)
    backend = llm.get_llm(config.llm_backend)
    prompt = llm.Prompt(instructions=config.instructions, question=query, sources=found.sources)
    try:
        answer = "".join(backend.stream(prompt))
    except llm.LLMError:
        answer = ""
    return refs, answer


def evaluate_version(*, workspace_id: int, agent_id: int, version: int, cases: Iterable[Any]) -> VersionReport:
    """Replay ``cases`` (the flywheel's ``EvalCase``: query, cited_refs, expected_answer,
    event_id) with the agent's configuration at ``version``."""
    config = configs.version_config(workspace_id=workspace_id, agent_id=agent_id, number=version)
    if config is None:
        raise EvaluationError(f"agent {agent_id} has no version {version} in this workspace")
    report = VersionReport(version)
    for case in cases:
        refs, answer = replay(workspace_id=workspace_id, agent_id=agent_id, config=config, query=case.query)
        cited = set(case.cited_refs or [])
        hit = bool(cited & refs) if cited else None
        report.cases.append(CaseResult(case.event_id, case.query, hit, token_f1(answer, case.expected_answer), answer))
    return report


def compare(
    *, workspace_id: int, agent_id: int, cases: list[Any], version: int | None = None, against: int | None = None
) -> list[VersionReport]:
    """Reports for ``version`` (default: the current one) and ``against`` (default: the one
    before it, when there is one)."""
    agent = configs.agent_get(workspace_id=workspace_id, agent_id=agent_id)
    if agent is None:
        raise EvaluationError("no such agent in this workspace")
    version = version or agent.version
    if against is None and version > 1:
        against = version - 1
    numbers = [version] + ([against] if against else [])
    return [evaluate_version(workspace_id=workspace_id, agent_id=agent_id, version=n, cases=cases) for n in numbers]
