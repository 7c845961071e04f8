"""The heuristic extractor: offline, linear time in the text.

Entities are named-entity-like phrases: runs of capitalised words (``Ada Lovelace``, ``Royal
Society``), acronyms (``NASA``) and CamelCase or dotted identifiers (``PostgreSQL``,
``numpy.linalg``); a capitalised word that only starts a sentence and is a common word
(``The``, ``This``) is not one. Relations: each document ``MENTIONS`` its entities (weight: how
often), and two entities in the same sentence are ``RELATED_TO`` each other (weight: in how many
sentences; at most ``max_per_sentence`` entities of a sentence count, so the pairs stay linear).

The text is read once by one regular expression without nested quantifiers (linear), and every
phrase is bounded (``max_words``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from knowledge.extraction import BaseExtractor, Extracted, FoundEntity, FoundRelation, SourceDocument

# a word (letters, digits, and inner . _ - + #), or a sentence end
_TOKEN = re.compile(r"[^\W_](?:[\w+#]|[.\-](?=\w))*|[.!?;:]")
_STOP = frozenset(
    """a an and are as at be but by for from had has have he her his i if in into is it its
    let many more most my no nor not of on or our she so some such than that the their them
    then there these they this those to too us was we were what when where which while who
    why will with would yes you your all any each every after before also however here how
    once only other over since still through under until very see note use using""".split()
)
_CONNECT = frozenset({"of", "de", "van", "von", "der", "la", "du", "da", "and"})
_MAX_TEXT = 2_000_000


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def _identifier(token: str) -> bool:
    """Acronyms, CamelCase, dotted or digit-bearing names: entity-like even alone."""
    if len(token) < 2:
        return False
    if token.isupper() and any(c.isalpha() for c in token):
        return True
    if "." in token and not token.endswith("."):
        return all(part for part in token.split("."))
    inner = token[1:]
    return token[:1].isalpha() and any(c.isupper() for c in inner) and any(c.islower() for c in token)


class HeuristicExtractor(BaseExtractor):
    name = "heuristic"

    def __init__(self, *, max_words: int = 5, max_per_sentence: int = 8, min_mentions: int = 1, **options: Any):
        super().__init__(max_words=max_words, max_per_sentence=max_per_sentence, min_mentions=min_mentions, **options)
        self.max_words, self.max_per_sentence, self.min_mentions = max_words, max_per_sentence, min_mentions

    def extract(self, document: SourceDocument) -> Extracted:
        text = f"{document.title}.\n{document.text}"[:_MAX_TEXT]
        mentions: Counter[str] = Counter()
        names: dict[str, str] = {}
        pairs: Counter[tuple[str, str]] = Counter()
        for sentence in self._sentences(text):
            found = []
            for phrase in sentence:
                norm = phrase.casefold()
                names.setdefault(norm, phrase)
                mentions[norm] += 1
                if norm not in found:
                    found.append(norm)
            found = found[: self.max_per_sentence]
            for i, a in enumerate(found):
                for b in found[i + 1 :]:
                    pairs[(a, b) if a < b else (b, a)] += 1
        keep = {n for n, count in mentions.items() if count >= self.min_mentions}
        result = Extracted()
        for norm in sorted(keep):
            result.entities.append(FoundEntity(name=names[norm], mentions=mentions[norm]))
            result.relations.append(FoundRelation("MENTIONS", None, names[norm], weight=float(mentions[norm])))
        for (a, b), count in sorted(pairs.items()):
            if a in keep and b in keep:
                result.relations.append(FoundRelation("RELATED_TO", names[a], names[b], weight=float(count)))
        return result

    def _sentences(self, text: str) -> Any:
        """Each sentence's phrases, in order (one pass over the tokens)."""
        phrase: list[str] = []
        pending: list[str] = []  # connector words inside a phrase ("Bank of England")
        phrases: list[str] = []
        first = True

        def close() -> None:
            if phrase:
                words = phrase[: self.max_words]
                if len(words) > 1 or _identifier(words[0]) or not phrase_start[0]:
                    if not (len(words) == 1 and words[0].casefold() in _STOP):
                        phrases.append(" ".join(words))
            phrase.clear()
            pending.clear()

        phrase_start = [False]
        for match in _TOKEN.finditer(text):
            token = match.group()
            if token in ".!?;:":
                close()
                if token in ".!?":
                    yield phrases
                    phrases = []
                    first = True
                continue
            if _capitalised(token) or _identifier(token):
                if not phrase:
                    phrase_start[0] = first
                    if first and token.casefold() in _STOP:
                        first = False
                        continue
                elif pending:
                    phrase.extend(pending)
                    pending.clear()
                phrase.append(token)
            elif phrase and token in _CONNECT and not pending:
                pending.append(token)
            else:
                close()
            first = False
        close()
        if phrases:
            yield phrases
