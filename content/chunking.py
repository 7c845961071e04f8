r"""Split a document's text into overlapping chunks whose offsets index into the original text.

Two strategies:

* ``tokens``: windows of ``size`` word-ish tokens, each starting ``size - overlap`` tokens after
  the previous one.
* ``sentences``: whole sentences packed up to ``size`` tokens; the next chunk repeats the
  previous chunk's trailing sentences that fit in ``overlap`` tokens. A sentence longer than
  ``size`` is cut by the token strategy.

A "token" is a run of word characters (with inner apostrophes/hyphens) or a run of punctuation
(the regex ``\w+(?:['’\-]\w+)*|[^\w\s]+``), which is close enough to model tokens for sizing
chunks and needs no tokenizer download. A sentence ends at ``.``, ``!`` or ``?`` (plus closing
quotes/brackets) followed by whitespace, or at a blank line (two newlines with only spaces or
tabs between them); the end of the text ends the last sentence.

The text is user input of up to ``STRATA_MAX_DOCUMENT_BYTES`` (4 MiB), so this runs in linear
time with numpy over one class code per character, and in Python only once per chunk: a 4 MiB
text of one-character tokens (4 million of them) chunks in a fraction of a second, where a
token-by-token Python loop took over 2 s and the old sentence regex took O(n^2) on a run of dots
(issue 6).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal

import numpy as np
from django.conf import settings

Strategy = Literal["tokens", "sentences"]
STRATEGIES: tuple[str, ...] = ("tokens", "sentences")


# Both patterns run on user input, so both must scan in linear time (issue 6): no match attempt
# may rescan text that an earlier attempt already consumed.
# - A token never fails once its first character matched (every quantifier may stop anywhere),
#   and ``finditer`` resumes after each token, so every character is read once or twice.
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
    codes, kinds = _char_kinds(text)
    starts, ends = _tokens(kinds)
    if not len(starts):
        return []
    if strategy == "sentences":
        bounds = _sentence_bounds(codes, kinds, ends)
        spans = _pack(bounds, starts, ends, size, overlap)
    else:
        first, stop = _windows(np.array([0, len(starts)]), size, overlap)
        spans = zip(starts[first].tolist(), ends[stop - 1].tolist(), (stop - first).tolist(), strict=True)
    return [ChunkSpan(a, b, text[a:b], n) for a, b, n in spans]


# ---------------------------------------------------------------- characters and tokens

_SPACE, _WORD, _JOINER, _PUNCT = 0, 1, 2, 3
_TERMINATORS = ".!?"
_CLOSERS = "\"'”’)]"
_JOINERS = "'’-"


def _kind(char: str) -> int:
    """The class of one character, as the regex engine sees it (``\\s``, ``\\w``)."""
    if char.isspace():
        return _SPACE
    if char.isalnum() or char == "_":
        return _WORD
    return _JOINER if char in _JOINERS else _PUNCT


_ASCII_KINDS = np.array([_kind(chr(code)) for code in range(128)], dtype=np.uint8)


def _char_kinds(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The code point and class of every character: a table for ASCII, one Python call per
    distinct other character."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kinds = np.zeros(len(codes), dtype=np.uint8)
    ascii_ = codes < 128
    kinds[ascii_] = _ASCII_KINDS[codes[ascii_]]
    if not ascii_.all():
        other = ~ascii_
        distinct, inverse = np.unique(codes[other], return_inverse=True)
        table = np.fromiter((_kind(chr(code)) for code in distinct.tolist()), dtype=np.uint8, count=len(distinct))
        kinds[other] = table[inverse]
    return codes, kinds


def _tokens(kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) offsets of every token."""
    token = kinds.copy()
    # an apostrophe or hyphen between two word characters belongs to the word; any other is punctuation
    word = kinds == _WORD
    joins = np.zeros(len(kinds), dtype=bool)
    joins[1:-1] = (kinds[1:-1] == _JOINER) & word[:-2] & word[2:]
    token[joins] = _WORD
    token[token == _JOINER] = _PUNCT
    change = np.flatnonzero(token[1:] != token[:-1]) + 1  # offsets where the class changes
    edges = np.concatenate(([0], change)) if len(token) else change
    run_ends = np.concatenate((change, [len(token)])) if len(token) else change
    keep = token[edges] != _SPACE
    return edges[keep], run_ends[keep]


def _sentence_bounds(codes: np.ndarray, kinds: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Token indexes where sentences start, plus the token count at the end."""
    n = len(kinds)
    positions = np.arange(n, dtype=np.int32)
    last_end = np.zeros(len(ends), dtype=bool)
    # 1. a token ending in [.!?] plus closing quotes/brackets, followed by whitespace
    inside = ends < n
    followed = np.zeros(len(ends), dtype=bool)
    followed[inside] = kinds[ends[inside]] == _SPACE
    closer = np.zeros(n, dtype=bool)
    for char in _CLOSERS:
        closer |= codes == ord(char)
    last_non_closer = np.maximum.accumulate(np.where(closer, np.int32(-1), positions))
    before = last_non_closer[ends - 1]
    terminator = np.zeros(n, dtype=bool)
    for char in _TERMINATORS:
        terminator |= codes == ord(char)
    last_end |= followed & (before >= 0) & terminator[np.maximum(before, 0)]
    # 2. a blank line in the whitespace after a token: a newline whose previous character other
    #    than a space or tab is a newline too
    newlines = np.flatnonzero(codes == 10)
    if len(newlines) > 1:
        blank = (codes != 32) & (codes != 9)
        last_blank = np.maximum.accumulate(np.where(blank, positions, np.int32(-1)))
        previous = last_blank[newlines - 1]
        paired = newlines[(previous >= 0) & (codes[np.maximum(previous, 0)] == 10)]
        owner = np.searchsorted(ends, paired, side="right") - 1  # the token the blank line follows
        last_end[owner[owner >= 0]] = True
    bounds = np.flatnonzero(last_end) + 1
    if not len(bounds) or bounds[-1] != len(ends):
        bounds = np.concatenate((bounds, [len(ends)]))
    return np.concatenate(([0], bounds))


def _windows(bounds: np.ndarray, size: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Token windows ``[first, stop)`` of each segment ``bounds[i]..bounds[i+1]``: the whole
    segment when it has at most ``size`` tokens, else windows of ``size`` tokens starting
    ``size - overlap`` apart, the last one ending at the segment's end."""
    step = size - overlap
    begin, end = bounds[:-1], bounds[1:]
    count = end - begin
    windows = np.where(count > size, -(-(count - size) // step) + 1, 1)
    segment = np.repeat(np.arange(len(count)), windows)
    offset = np.arange(len(segment)) - np.repeat(np.cumsum(windows) - windows, windows)
    first = begin[segment] + offset * step
    stop = np.minimum(first + size, end[segment])
    return first, stop


def _pack(
    bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray, size: int, overlap: int
) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` of each chunk of whole sentences (or windows of a long one)."""
    first, stop = _windows(bounds, size, overlap)
    piece_first = first.tolist()
    piece_stop = stop.tolist()
    piece_start = starts[first].tolist()
    piece_end = ends[stop - 1].tolist()
    sizes = stop - first
    total = np.concatenate(([0], np.cumsum(sizes))).tolist()  # tokens in pieces[:i]
    sizes = sizes.tolist()
    chunks: list[tuple[int, int, int]] = []
    count = len(piece_first)
    p = 0
    while p < count:
        # the most whole pieces from p that fit in `size` tokens (at least one)
        q = max(bisect_right(total, total[p] + size) - 1, p + 1)
        chunks.append((piece_start[p], piece_end[q - 1], piece_stop[q - 1] - piece_first[p]))
        if q >= count:
            break
        # start the next chunk with the trailing whole pieces that fit in `overlap` tokens and
        # still leave room for the next new piece (else that chunk would repeat this one)
        room = min(overlap, size - sizes[q])
        p = max(bisect_left(total, total[q] - room), p + 1)
    return chunks
