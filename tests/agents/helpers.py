"""Helpers of the agents tests: a small corpus, running a chat turn to the end."""

from __future__ import annotations

from typing import Any

from agents.turns import chat_turn
from content.services import IngestItem, document_ingest

CORPUS = {
    "herons": (
        "Herons",
        "Herons are long-legged wading birds. The grey heron hunts fish in shallow water. "
        "Herons nest in colonies called heronries.",
    ),
    "sourdough": (
        "Sourdough",
        "Sourdough bread rises with a wild yeast starter. The starter is fed with flour and water every day. "
        "A long fermentation gives sourdough its sour taste.",
    ),
    "pulsars": (
        "Pulsars",
        "A pulsar is a rotating neutron star. Pulsars emit beams of radio waves. "
        "Jocelyn Bell Burnell discovered the first pulsar in 1967.",
    ),
}


def ingest_corpus(workspace_id: int, corpus: dict[str, tuple[str, str]] = CORPUS) -> dict[str, int]:
    items = [IngestItem(external_id=k, title=t, text=x) for k, (t, x) in corpus.items()]
    report = document_ingest(workspace_id=workspace_id, items=items, embed=True)
    assert not report.failed, report.failed
    return {r.external_id: r.document_id for r in report.results}


def run_turn(**kwargs: Any) -> list[dict[str, Any]]:
    return list(chat_turn(**kwargs))


def done(events: list[dict[str, Any]]) -> dict[str, Any]:
    (last,) = [e for e in events if e["type"] == "done"]
    return last
