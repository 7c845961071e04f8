"""The offline extractive responder: the answer is the best passages themselves, quoted word
for word, each followed by its source number. It never writes a word of its own besides the
quote marks and the citation markers (and one fixed sentence when nothing was found).

The best passages: each source's best window of 1-3 consecutive sentences (up to ``MAX_QUOTE``
characters): the most question words, then the fewest sentences; sources are ranked by that
count, ties keeping the retrieval order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from agents.llm import BaseLLM, Prompt, Source

NOTHING_FOUND = "I found nothing about that in this workspace."
MAX_QUOTE = 400
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_STOP = frozenset(
    "a an and are as at be by did do does for from has have how i in is it its me my of on or tell the to "
    "was were what when where which who why with you your about".split()
)


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text[:20_000])} - _STOP


def best_quote(text: str, question_words: set[str]) -> tuple[int, str]:
    """(matched question words, the best window of consecutive sentences under MAX_QUOTE characters)."""
    sentences = [m.group().strip() for m in _SENTENCE.finditer(text[:20_000]) if m.group().strip()]
    if not sentences:
        return 0, ""
    best: tuple[int, int, int, str] = (-1, 0, 0, "")
    for i in range(len(sentences)):
        window = ""
        for j in range(i, min(i + 3, len(sentences))):  # 1-3 consecutive sentences
            longer = f"{window} {sentences[j]}".strip()
            if window and len(longer) > MAX_QUOTE:
                break
            window = longer[:MAX_QUOTE]
            # the most question words, then the shortest window, then the earliest
            candidate = (len(words(window) & question_words), -(j - i), -i, window)
            if candidate[:3] > best[:3]:
                best = candidate
    return best[0], best[3]


class ExtractiveResponder(BaseLLM):
    name = "offline-extractive"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._quotes: dict[int, str] = {}

    def choose(self, prompt: Prompt) -> list[tuple[Source, str]]:
        wanted = words(prompt.question)
        scored = []
        for position, source in enumerate(prompt.sources):
            score, quote = best_quote(source.text, wanted)
            if quote and score > 0:
                scored.append((-score, position, source, quote))
        scored.sort(key=lambda item: (item[0], item[1]))
        limit = int(self.options.get("quotes") or settings.STRATA_AGENTS_QUOTES)
        chosen, seen = [], set()
        for _, _, source, quote in scored:
            if quote in seen:
                continue
            seen.add(quote)
            chosen.append((source, quote))
            if len(chosen) == limit:
                break
        return chosen

    def stream(self, prompt: Prompt) -> Iterator[str]:
        chosen = self.choose(prompt)
        self._quotes = {source.n: quote for source, quote in chosen}
        if not chosen:
            yield NOTHING_FOUND
            return
        for i, (source, quote) in enumerate(chosen):
            yield ("\n\n" if i else "") + f"\u201c{quote}\u201d [{source.n}]"

    def quotes(self) -> dict[int, str]:
        return dict(self._quotes)
