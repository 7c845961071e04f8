"""The search box's query language, read by a single left-to-right scanner (linear time, no regular
expressions on user input).

- Words are alternatives: a document matching ANY of them is a hit; ranking decides the order.
- ``"a quoted phrase"`` must appear as written (its words also count for ranking): the text between
  a double quote and the next one. An unclosed quote is ignored and its words stay plain words.
- ``-word`` or ``-"a phrase"`` excludes documents that contain it. Only a single ``-`` directly in
  front of a word or quote is an operator: a free-standing ``-`` (``mail server - POP3``), a
  ``--`` and a dash inside a word (``e-mail``) are not.

The parser only splits the query; stemming and stop words are PostgreSQL's (the ``english``
text search configuration) when the parts are turned into ``tsquery`` / ``bm25query`` values.

A refused search request raises ``SearchError`` (a 4xx for the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.storage.ports import InvalidInput

MAX_PARTS = 64  # words + phrases + exclusions kept from one query; the rest is ignored
_QUOTES = frozenset('"\u201c\u201d\u201e\u00ab\u00bb')  # straight and typographic double quotes


class SearchError(InvalidInput):
    """The search request is refused (bad query, bad filters, or vectors of another model)."""


class SearchModelMismatch(SearchError):
    """This process cannot embed the query with the model the workspace's vectors were made with."""


@dataclass(frozen=True)
class ParsedQuery:
    words: tuple[str, ...] = ()  # every positive word, including those of phrases (for ranking)
    phrases: tuple[str, ...] = ()  # required phrases (two or more words each)
    excluded: tuple[str, ...] = ()  # excluded words or phrases

    @property
    def text(self) -> str:
        """The positive words as one string (what BM25 and the semantic embedder see)."""
        return " ".join(self.words)

    @property
    def is_empty(self) -> bool:
        return not self.words


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _words(text: str) -> list[str]:
    """Split on whitespace and quotes; drop tokens made only of dashes (never operators)."""
    out: list[str] = []
    start = -1
    for i, ch in enumerate(text):
        if _is_space(ch) or ch in _QUOTES:
            if start >= 0:
                out.append(text[start:i])
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        out.append(text[start:])
    return [w for w in out if w.strip("-\u2010\u2011\u2012\u2013\u2014\u2015")]


def parse_query(query: str) -> ParsedQuery:
    """Split ``query`` into positive words, required phrases and exclusions. Never raises for any
    string; runs in time linear in its length."""
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    n = len(query)
    i = 0
    while i < n and len(words) + len(phrases) + len(excluded) < MAX_PARTS:
        ch = query[i]
        if _is_space(ch):
            i += 1
            continue
        # A token starts here. Is it "-x" (one dash directly before a word or quote)?
        negate = ch == "-" and i + 1 < n and not _is_space(query[i + 1]) and query[i + 1] != "-"
        start = i + 1 if negate else i
        if start < n and query[start] in _QUOTES:
            close = start + 1
            while close < n and query[close] not in _QUOTES:
                close += 1
            if close < n:  # a closed phrase
                parts = _words(query[start + 1 : close])
                if parts:
                    phrase = " ".join(parts)
                    if negate:  # a dash before a word inside an excluded phrase is no second operator
                        excluded.append(" ".join(p.lstrip("-") for p in parts))
                    else:
                        words.extend(parts)
                        if len(parts) > 1:
                            phrases.append(phrase)
                i = close + 1
                continue
            # unclosed quote: not an operator; read on as plain words
            start += 1
            negate = False
        end = start
        while end < n and not _is_space(query[end]) and query[end] not in _QUOTES:
            end += 1
        if end == start:  # e.g. a lone opening quote followed by a space
            i = max(end, i + 1)
            continue
        parts = _words(query[start:end]) if not negate else [query[start:end]]
        if negate and parts[0].strip("-"):
            excluded.append(parts[0])
        elif not negate:
            words.extend(parts)
        i = end
    return ParsedQuery(words=tuple(words[:MAX_PARTS]), phrases=tuple(phrases), excluded=tuple(excluded))
