"""The offline extractive responder: the answer is the best passages themselves, quoted word
for word, each followed by its source number. It never writes a word of its own besides the
quote marks and the citation markers (and one fixed sentence when nothing was found).

How the quotes are chosen (``choose``):

* The question's words are its words minus stop words, Snowball-stemmed (PyStemmer, the stemmer
  of PostgreSQL's ``english`` search configuration, so "depend" matches "depends"); a dotted
  token stays one word, unstemmed ("9.1", "setup.py"), and so does one with digits ("libc6").
* Each source's best window is 1-3 consecutive sentences (``agents.llm.sentences``: split only
  at sentence punctuation, never inside "2.36-9", "setup.py", a URL or after "e.g."), quoted
  verbatim up to ``MAX_QUOTE`` characters: the most question words, then one that ends a
  sentence (rather than a heading or a list item), then the fewest sentences, then the
  earliest. Its *coverage* is the share of the question's words it holds (0-1).
* A source's score is ``coverage * RANK_DECAY ** rank``, ``rank`` being its place among the
  sources of its kind (passages in retrieval order, then facts, then memories: each list is
  ranked on its own). Retrieval already ranked the sources with stemming, BM25 weights, vectors
  and the graph; the responder's word count is cruder, so it only overrides that order when a
  lower source is clearly better: one place down needs more than twice the coverage (all 3
  question words against 1 of them, but not both of 2 against 1 of 2), two places down more
  than 4 times. Ties keep the source order.
* The ``STRATA_AGENTS_QUOTES`` best distinct windows with some coverage are quoted, best first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import Stemmer
from django.conf import settings

from agents.llm import BaseLLM, Prompt, Source
from agents.llm.sentences import sentence_spans

NOTHING_FOUND = "I found nothing about that in this workspace."
MAX_QUOTE = 400
#: the weight of a source one place further down its kind's ranking (module doc)
RANK_DECAY = 0.5
#: characters of a source read for quotes
MAX_SOURCE_CHARS = 20_000
_WORD = re.compile(r"\w+(?:\.\w+)*")  # dotted tokens whole: "9.1", "setup.py", "e.g"
_STOP = frozenset(
    "a an and are as at be by did do does for from has have how i in is it its me my of on or tell the to "
    "was were what when where which who why with you your about".split()
)
_STEMMER = Stemmer.Stemmer("english")
_COMPLETE = frozenset(".!?\"')\u201d\u2019")


def words(text: str) -> set[str]:
    """The stemmed content words of ``text`` (its first ``MAX_SOURCE_CHARS`` characters)."""
    found = {w.casefold() for w in _WORD.findall(text[:MAX_SOURCE_CHARS])} - _STOP
    plain = sorted(w for w in found if w.isalpha())
    return set(_STEMMER.stemWords(plain)) | {w for w in found if not w.isalpha()}


def _clip(window: str) -> str:
    """At most MAX_QUOTE characters of ``window``, cut at a space when it is longer (verbatim)."""
    if len(window) <= MAX_QUOTE:
        return window
    cut = window[:MAX_QUOTE]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_QUOTE // 2 else cut).rstrip()


def best_quote(text: str, question_words: set[str]) -> tuple[int, str]:
    """(matched question words, the best window of 1-3 consecutive sentences), the window a
    verbatim slice of ``text`` of at most MAX_QUOTE characters."""
    text = text[:MAX_SOURCE_CHARS]
    spans = sentence_spans(text)
    if not spans or not question_words:
        return 0, ""
    matched = [words(text[a:b]) & question_words for a, b in spans]
    best: tuple[int, bool, int, int, str] = (-1, False, 0, 0, "")
    for i in range(len(spans)):
        found: set[str] = set()
        for j in range(i, min(i + 3, len(spans))):  # 1-3 consecutive sentences
            if j > i and spans[j][1] - spans[i][0] > MAX_QUOTE:
                break
            found |= matched[j]
            # the most question words, then a window ending a sentence (not a heading or a
            # list item that never ends one), then the shortest, then the earliest
            candidate = (len(found), text[spans[j][1] - 1] in _COMPLETE, -(j - i), -i)
            if candidate > best[:4]:
                best = (*candidate, _clip(text[spans[i][0] : spans[j][1]]))
    return best[0], best[4]


class ExtractiveResponder(BaseLLM):
    name = "offline-extractive"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._quotes: dict[int, str] = {}

    def choose(self, prompt: Prompt) -> list[tuple[Source, str]]:
        wanted = words(prompt.question)
        scored = []
        ranks: dict[str, int] = {}
        for position, source in enumerate(prompt.sources):
            rank = ranks[source.kind] = ranks.get(source.kind, -1) + 1
            matched, quote = best_quote(source.text, wanted)
            if quote and matched > 0:
                # coverage (matched / len(wanted)) times the rank's weight; the division is the
                # same for every source, so it is left out (exact: RANK_DECAY is a power of 2)
                score = matched * RANK_DECAY**rank
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
