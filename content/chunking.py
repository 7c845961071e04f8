"""Split a document's text into overlapping chunks whose offsets index into the original text.

Two strategies:

* ``tokens``: windows of ``size`` word-ish tokens, each starting ``size - overlap`` tokens after
  the previous one.
* ``sentences``: whole sentences packed up to ``size`` tokens; the next chunk repeats the
  previous chunk's trailing sentences that fit in ``overlap`` tokens. A sentence longer than
  ``size`` is cut by the token strategy.

A "token" is a run of word characters (with inner apostrophes/hyphens) or a run of punctuation,
which is close enough to model tokens for sizing chunks and needs no tokenizer download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

Strategy = Literal["tokens", "sentences"]
STRATEGIES: tuple[str, ...] = ("tokens", "sentences")

_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]+")
# A sentence ends at ., ! or ? (plus closing quotes/brackets) followed by whitespace, or at a
# blank line (paragraph break); the end of the text ends the last sentence.
_SENTENCE_END = re.compile(r"""[.!?]+["'”’)\]]*(?=\s)|\n[ \t]*\n""")


@dataclass(frozen=True)
class ChunkSpan:
    start: int
    end: int
    text: str
    token_count: int


def _config(strategy: str | None, size: int | None, overlap: int | None) -> tuple[str, int, int]:
    strategy = settings.STRATA_CHUNK_STRATEGY if strategy is None else strategy
    size = settings.STRATA_CHUNK_SIZE if size is None else size
    overlap = settings.STRATA_CHUNK_OVERLAP if overlap is None else overlap
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"chunk size must be a positive number of tokens, got {size!r}")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        raise ValueError(f"chunk overlap must be zero or a positive number of tokens, got {overlap!r}")
    if overlap >= size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than the chunk size ({size})")
    return strategy, size, overlap


def chunk_text(
    text: str, *, strategy: Strategy | None = None, size: int | None = None, overlap: int | None = None
) -> list[ChunkSpan]:
    """Chunks of ``text`` (``text[c.start:c.end] == c.text``); ``[]`` when it has no tokens.

    Defaults come from ``STRATA_CHUNK_STRATEGY``, ``STRATA_CHUNK_SIZE`` and ``STRATA_CHUNK_OVERLAP``;
    an invalid configuration raises ``ValueError``.
    """
    strategy, size, overlap = _config(strategy, size, overlap)
    if strategy == "sentences":
        return [ChunkSpan(a, b, text[a:b], n) for a, b, n in _sentence_chunks(text, size, overlap)]
    starts: list[int] = []
    ends: list[int] = []
    for match in _TOKEN.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
    return [
        ChunkSpan(starts[i], ends[j - 1], text[starts[i] : ends[j - 1]], j - i)
        for i, j in (_token_windows(0, len(starts), size, overlap) if starts else [])
    ]


def _token_windows(first: int, stop: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[i, j) token index windows over tokens first..stop-1."""
    step = size - overlap
    windows = []
    i = first
    while True:
        j = min(i + size, stop)
        windows.append((i, j))
        if j >= stop:
            return windows
        i += step


def _sentence_chunks(text: str, size: int, overlap: int) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` of each chunk of whole sentences."""
    # Pieces: (first token, stop token, start char, end char) per sentence; an over-long sentence
    # becomes overlapping token windows. Every non-space character belongs to a token, so a
    # sentence's first/last token edges are its stripped edges: only the token counts are needed
    # (``findall``), except inside over-long sentences.
    pieces: list[tuple[int, int, int, int]] = []
    token = 0
    position = 0
    cuts = [boundary.end() for boundary in _SENTENCE_END.finditer(text)]
    cuts.append(len(text))
    for cut in cuts:
        segment = text[position:cut]
        count = len(_TOKEN.findall(segment))
        if count:
            start = position + len(segment) - len(segment.lstrip())
            end = position + len(segment.rstrip())
            if count <= size:
                pieces.append((token, token + count, start, end))
            else:
                spans = [(position + m.start(), position + m.end()) for m in _TOKEN.finditer(segment)]
                for i, j in _token_windows(0, count, size, overlap):
                    pieces.append((token + i, token + j, spans[i][0], spans[j - 1][1]))
            token += count
        position = cut

    chunks: list[tuple[int, int, int]] = []
    p = 0
    while p < len(pieces):
        q = p
        tokens = 0
        while q < len(pieces) and tokens + (pieces[q][1] - pieces[q][0]) <= size:
            tokens += pieces[q][1] - pieces[q][0]
            q += 1
        q = max(q, p + 1)  # a piece is never larger than size, but always move forward
        # the token windows of a cut sentence overlap each other: a chunk spans its pieces
        stop = max(piece[1] for piece in pieces[p:q])
        end = max(piece[3] for piece in pieces[p:q])
        chunks.append((pieces[p][2], end, stop - pieces[p][0]))
        if q >= len(pieces):
            break
        # start the next chunk with the trailing whole pieces that fit in `overlap` tokens and
        # still leave room for the next new piece (else that chunk would repeat this one)
        room = min(overlap, size - (pieces[q][1] - pieces[q][0]))
        back = q
        carried = 0
        while back - 1 > p and carried + (pieces[back - 1][1] - pieces[back - 1][0]) <= room:
            back -= 1
            carried += pieces[back][1] - pieces[back][0]
        p = back
    return chunks
