"""Feature-hashing embedder: no model, no download, deterministic across processes and machines.

``hashing-1536-v2`` (the default) normalises words the way PostgreSQL's ``english`` text search
configuration does, so a word counts in meaning where it counts in full-text search:

- identifiers are split into their words (``raw_decode`` -> raw, decode; ``JSONDecoder`` ->
  json, decoder; ``utf8`` -> utf, 8) by a linear scanner: titles such as
  ``json.decoder.JSONDecoder.raw_decode`` then share words with a plain-language query;
- lower-cased, English stop words dropped (PostgreSQL's ``english.stop``, the Snowball list),
  Snowball-stemmed (PyStemmer, the algorithm of PostgreSQL's ``english_stem``);
- features: those word stems (weight 1) and bigrams of consecutive stems (weight 0.5), each hashed
  with a keyed BLAKE2b to one of ``DIMENSION`` buckets and a sign (signed hashing: collisions
  cancel out on average instead of piling up);
- sublinear term frequency (``sign(x) * log(1 + |x|)``), then L2 normalisation.

Measured on the standard-library corpus (bench/search_bench.py study, tuning split): semantic
MRR@10 0.17 (v1) -> 0.40 (v2). ``hashing-1536-v1`` (plain ``\\w+`` words, no stemming, stop words
or identifier splitting) is still built for workspaces that record it, until ``reembed``.

Speed: word features are memoised (word frequencies are Zipfian, so most lookups hit), bigram
hashes are mixed from the unigram hashes in numpy, and every row of a batch is built with one
``np.bincount``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import Stemmer

from content.embeddings import DIMENSION

MODEL_V1 = "hashing-1536-v1"
MODEL_V2 = "hashing-1536-v2"
_WORD = re.compile(r"\w+")
_PERSON = b"strata-hash-v1"
_BIGRAM_WEIGHT = 0.5  # measured: 0.3-0.5 best on the tuning split, 1.0 worse
# PostgreSQL's english.stop (the Snowball English stop word list).
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while
    of at by for with about against between into through during before after above below to from up down in out
    on off over under again further then once here there when where why how all any both each few more most
    other some such no nor not only own same so than too very s t can will just don should now""".split()
)
_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=1 << 20)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8, person=_PERSON).digest(), "little")


def split_identifier(word: str) -> list[str]:
    """The words of an identifier, in one left-to-right pass: underscores separate, and so do a
    lower-to-upper step (``rawDecode``), the last capital of a capital run before a lower-case
    letter (``JSONDecoder`` -> JSON, Decoder) and letter/digit steps (``utf8``)."""
    parts: list[str] = []
    start = 0
    n = len(word)
    for i in range(1, n + 1):
        if i == n:
            cut = True
        else:
            prev, ch = word[i - 1], word[i]
            cut = (
                ch == "_"
                or prev == "_"
                or (prev.islower() and ch.isupper())
                or (prev.isupper() and ch.isupper() and i + 1 < n and word[i + 1].islower())
                or (prev.isdigit() != ch.isdigit())
            )
        if cut:
            part = word[start:i]
            if part and part != "_" * len(part):
                parts.append(part)
            start = i
    return parts


@lru_cache(maxsize=1 << 20)
def _word_features(word: str) -> tuple[int, ...]:
    """The hashed stems of one ``\\w+`` word (v2): split, lower-cased, stop words dropped, stemmed."""
    out = []
    for part in split_identifier(word):
        lowered = part.lower()
        if lowered not in STOP_WORDS:
            out.append(_token_hash(_STEMMER.stemWord(lowered)))
    return tuple(out)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 arithmetic wraps, as intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class HashingEmbedder:
    dimension = DIMENSION

    def __init__(self, model: str = MODEL_V2) -> None:
        if model not in (MODEL_V1, MODEL_V2):
            raise ValueError(f"unknown hashing model {model!r}")
        self.model = model
        self.version = 1 if model == MODEL_V1 else 2
        # Calibrated on the standard-library corpus (bench/search_bench.py calibrate): above the best
        # semantic match of every one of 200 nonsense queries.
        self.relevance_floor = 0.36 if self.version == 1 else 0.53
        # The semantic weight of hybrid search per fusion method (full-text weighs 1.0), chosen on
        # the tuning split of the same corpus (bench/search_bench.py study).
        if self.version == 1:
            self.fusion_weights = {"rrf": 0.5, "relative_score": 0.5}
        else:
            self.fusion_weights = {"rrf": 2.0, "relative_score": 2.33}

    def _row_hashes(self, text: str) -> list[int]:
        if self.version == 1:
            words = _WORD.findall(text.lower())
            return [_token_hash(w) for w in words] if words else [_token_hash(text.strip() or "\x00")]
        hashes = [h for word in _WORD.findall(text) for h in _word_features(word)]
        # no word left (only stop words or punctuation): hash the text itself, so the row is not zero
        return hashes or [_token_hash(text.strip().lower() or "\x00")]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        per_row = [self._row_hashes(text) for text in texts]
        lengths = np.fromiter((len(r) for r in per_row), dtype=np.int64, count=n)
        unigrams = np.fromiter((h for r in per_row for h in r), dtype=np.uint64, count=int(lengths.sum()))
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        same_row = rows[:-1] == rows[1:]
        bigrams = _mix(unigrams[:-1][same_row] * np.uint64(0x9E3779B97F4A7C15) ^ unigrams[1:][same_row])
        features = np.concatenate([unigrams, bigrams])
        feature_rows = np.concatenate([rows, rows[:-1][same_row]])
        bigram_weight = 1.0 if self.version == 1 else _BIGRAM_WEIGHT
        weights = np.concatenate([np.ones(len(unigrams)), np.full(len(bigrams), bigram_weight)])
        buckets = (features % np.uint64(self.dimension)).astype(np.int64)
        signs = 1.0 - 2.0 * (features >> np.uint64(63)).astype(np.float64)
        matrix = np.bincount(
            feature_rows * self.dimension + buckets, weights=signs * weights, minlength=n * self.dimension
        ).reshape(n, self.dimension)
        # Sublinear term weighting: frequent words no longer dominate every vector.
        matrix = np.sign(matrix) * np.log1p(np.abs(matrix))
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # All features of a row may cancel out (signed hashing): fall back to the first feature alone.
        empty = norms[:, 0] == 0
        if empty.any():
            first = np.cumsum(lengths) - lengths
            for i in np.flatnonzero(empty):
                matrix[i, int(buckets[first[i]])] = signs[first[i]]
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / norms).astype(np.float32)
