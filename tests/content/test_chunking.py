"""chunk_text: offsets into the original text, sizes and overlaps, both strategies, bad config."""

from __future__ import annotations

import random
import re

import pytest
from django.test import override_settings

from content.chunking import ChunkSpan, chunk_text

WORDS = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]+")
TEXT = (
    "Strata keeps four data models in one database. Rows live in tables!  Documents live in JSONB?\n\n"
    "Vectors sit in pgvector; the graph sits in Apache AGE. "
    + " ".join(f"Filler sentence {i} has exactly seven tokens." for i in range(30))
)


def check_offsets(text: str, chunks: list[ChunkSpan]) -> None:
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == len(WORDS.findall(chunk.text))
        assert chunk.text == chunk.text.strip()


@pytest.mark.parametrize("strategy", ["tokens", "sentences"])
def test_offsets_index_into_the_original_text(strategy):
    text = "  \n" + TEXT.replace("\n\n", "\r\n\r\n") + "\n  "
    chunks = chunk_text(text, strategy=strategy, size=25, overlap=5)
    assert len(chunks) > 5
    check_offsets(text, chunks)
    assert chunks[0].start == 3 and chunks[-1].end == len(text.rstrip())


def test_token_windows_have_the_size_and_overlap():
    text = " ".join(f"w{i}" for i in range(23))
    chunks = chunk_text(text, strategy="tokens", size=10, overlap=3)
    assert [c.text.split() for c in chunks] == [
        [f"w{i}" for i in range(0, 10)],
        [f"w{i}" for i in range(7, 17)],
        [f"w{i}" for i in range(14, 23)],
    ]
    check_offsets(text, chunks)


def test_token_strategy_without_overlap_partitions_the_tokens():
    text = " ".join(f"w{i}" for i in range(20))
    chunks = chunk_text(text, strategy="tokens", size=5, overlap=0)
    assert [c.token_count for c in chunks] == [5, 5, 5, 5]
    assert " ".join(c.text for c in chunks) == text


def test_sentences_are_kept_whole_and_overlap_by_whole_sentences():
    text = " ".join(f"Filler sentence {i} has seven tokens." for i in range(10))  # 7 with the "."
    chunks = chunk_text(text, strategy="sentences", size=21, overlap=7)
    check_offsets(text, chunks)
    for chunk in chunks:
        assert chunk.text.startswith("Filler") and chunk.text.endswith(".")
        assert chunk.token_count <= 21
    # each chunk holds 3 sentences and starts with the previous chunk's last one
    assert [c.token_count for c in chunks[:-1]] == [21] * (len(chunks) - 1)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.text.rsplit("Filler", 1)[1]
        assert current.text.startswith("Filler" + last_sentence)
    assert chunks[-1].end == len(text)


def test_sentences_split_at_paragraph_breaks_and_punctuation():
    text = "Heading without a full stop\n\nFirst sentence. Second one!\nThird? Yes."
    chunks = chunk_text(text, strategy="sentences", size=5, overlap=0)
    # 5, 3, 3+2 and 2 tokens: whole sentences packed up to 5 tokens
    assert [c.text for c in chunks] == ["Heading without a full stop", "First sentence.", "Second one!\nThird?", "Yes."]


def test_a_sentence_longer_than_the_size_is_cut_by_tokens():
    long_sentence = " ".join(f"x{i}" for i in range(25)) + "."
    text = f"Short one. {long_sentence} Tail here."
    chunks = chunk_text(text, strategy="sentences", size=10, overlap=2)
    check_offsets(text, chunks)
    assert all(c.token_count <= 10 for c in chunks)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # nothing is lost


def test_text_without_tokens_has_no_chunks():
    assert chunk_text("", strategy="tokens", size=5, overlap=1) == []
    assert chunk_text(" \n\t ", strategy="sentences", size=5, overlap=1) == []


def test_punctuation_only_text_still_makes_a_chunk():
    assert chunk_text("?!", strategy="sentences", size=5, overlap=1) == [ChunkSpan(0, 2, "?!", 1)]


def test_unicode_offsets_are_character_offsets():
    text = "Überall grüßt café. Ñandú corre rápido."
    chunks = chunk_text(text, strategy="sentences", size=4, overlap=0)
    assert [c.text for c in chunks] == ["Überall grüßt café.", "Ñandú corre rápido."]
    check_offsets(text, chunks)


@override_settings(STRATA_CHUNK_STRATEGY="tokens", STRATA_CHUNK_SIZE=4, STRATA_CHUNK_OVERLAP=1)
def test_defaults_come_from_settings():
    chunks = chunk_text("a b c d e f g")
    assert [c.text for c in chunks] == ["a b c d", "d e f g"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 10, "overlap": 10}, r"overlap \(10\) must be smaller than the chunk size \(10\)"),
        ({"size": 10, "overlap": 12}, "must be smaller than the chunk size"),
        ({"size": 0, "overlap": 0}, "chunk size must be a positive number of tokens"),
        ({"size": -3, "overlap": 0}, "chunk size must be a positive"),
        ({"size": 10, "overlap": -1}, "chunk overlap must be zero or a positive"),
        ({"size": 10, "overlap": 2, "strategy": "paragraphs"}, "unknown chunking strategy 'paragraphs'"),
    ],
)
def test_invalid_configuration_is_refused(kwargs, message):
    kwargs.setdefault("strategy", "tokens")
    with pytest.raises(ValueError, match=message):
        chunk_text("some text here", **kwargs)


@override_settings(STRATA_CHUNK_SIZE=5, STRATA_CHUNK_OVERLAP=5)
def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("some text")


@pytest.mark.parametrize("strategy", ["tokens", "sentences"])
@pytest.mark.parametrize("seed", range(5))
def test_invariants_on_random_texts(strategy, seed):
    rng = random.Random(seed)
    pieces = ["word", "Ünïcode", "don't", "x-ray", "42", ".", "!", "?", ",", "…", "(", ")", '"', " ", "  ", "\n"]
    pieces += ["\n\n", "\u00a0", "\t", ". ", "? ", "!\n"]
    for _ in range(20):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 400)))
        size = rng.randint(1, 30)
        overlap = rng.randint(0, size - 1)
        chunks = chunk_text(text, strategy=strategy, size=size, overlap=overlap)
        check_offsets(text, chunks)
        tokens = [m.span() for m in WORDS.finditer(text)]
        assert bool(chunks) == bool(tokens)
        for chunk in chunks:
            assert 1 <= chunk.token_count <= size
        # every token is in some chunk; chunks move forward and overlap by at most `overlap` tokens
        covered = [any(c.start <= a and b <= c.end for c in chunks) for a, b in tokens]
        assert all(covered)
        for previous, current in zip(chunks, chunks[1:], strict=False):
            assert previous.start < current.start and previous.end < current.end
            shared = sum(1 for a, b in tokens if current.start <= a and b <= previous.end)
            assert shared <= overlap


# ---------------------------------------------------------------- the reference implementation
# The regex-and-loop chunker this module replaced (issue 6: its sentence regex was quadratic and its
# loops too slow for 4 MiB of tokens). It defines what the linear-time chunker must return.

_REF_SENTENCE_END = re.compile(r"""[.!?]+["'”’)\]]*(?=\s)|\n[ \t]*\n""")


def _ref_windows(stop: int, size: int, overlap: int) -> list[tuple[int, int]]:
    windows, i = [], 0
    while True:
        j = min(i + size, stop)
        windows.append((i, j))
        if j >= stop:
            return windows
        i += size - overlap


def reference_chunks(text: str, strategy: str, size: int, overlap: int) -> list[tuple[int, int, int]]:
    if strategy == "tokens":
        spans = [m.span() for m in WORDS.finditer(text)]
        return [
            (spans[i][0], spans[j - 1][1], j - i) for i, j in (_ref_windows(len(spans), size, overlap) if spans else [])
        ]
    pieces, token, position = [], 0, 0
    for cut in [m.end() for m in _REF_SENTENCE_END.finditer(text)] + [len(text)]:
        segment = text[position:cut]
        count = len(WORDS.findall(segment))
        if count:
            start, end = position + len(segment) - len(segment.lstrip()), position + len(segment.rstrip())
            if count <= size:
                pieces.append((token, token + count, start, end))
            else:
                spans = [(position + m.start(), position + m.end()) for m in WORDS.finditer(segment)]
                for i, j in _ref_windows(count, size, overlap):
                    pieces.append((token + i, token + j, spans[i][0], spans[j - 1][1]))
            token += count
        position = cut
    chunks, p = [], 0
    while p < len(pieces):
        q, tokens = p, 0
        while q < len(pieces) and tokens + (pieces[q][1] - pieces[q][0]) <= size:
            tokens += pieces[q][1] - pieces[q][0]
            q += 1
        q = max(q, p + 1)
        stop, end = max(x[1] for x in pieces[p:q]), max(x[3] for x in pieces[p:q])
        chunks.append((pieces[p][2], end, stop - pieces[p][0]))
        if q >= len(pieces):
            break
        room, back, carried = min(overlap, size - (pieces[q][1] - pieces[q][0])), q, 0
        while back - 1 > p and carried + (pieces[back - 1][1] - pieces[back - 1][0]) <= room:
            back -= 1
            carried += pieces[back][1] - pieces[back][0]
        p = back
    return chunks


@pytest.mark.parametrize("strategy", ["tokens", "sentences"])
@pytest.mark.parametrize("seed", range(8))
def test_same_chunks_as_the_reference_implementation(strategy, seed):
    rng = random.Random(1000 + seed)
    pieces = ["word", "Ünïcode", "don't", "x-ray", "a-", "-b", "'", "’", "--", "42", "_", "日本", "\u0301", "\ud800"]
    pieces += [".", "!", "?", "...", ",", "…", "(", ")", "]", '"', "”", " ", "  ", "\n", "\n\n", "\n \t\n", "\r\n"]
    pieces += ["\u00a0", "\u2028", "\t", ". ", "? ", "!\n", ".) ", '."\n', "\x0b", "\x1c"]
    for _ in range(60):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 300)))
        size = rng.randint(1, 25)
        overlap = rng.randint(0, size - 1)
        got = [(c.start, c.end, c.token_count) for c in chunk_text(text, strategy=strategy, size=size, overlap=overlap)]
        assert got == reference_chunks(text, strategy, size, overlap), (text, size, overlap)
