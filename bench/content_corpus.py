"""The content benchmark's generated corpus (bench/content_bench.py)."""

from __future__ import annotations

import numpy as np

from content import services


class Corpus:
    """Documents about ``topics`` topics: each mixes common words (Zipf) with its topic's words,
    so documents of a topic are similar to each other and a held-out text has near neighbours."""

    def __init__(self, seed: int, *, vocabulary: int = 20_000, topics: int = 300) -> None:
        self.rng = np.random.default_rng(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
        words: set[str] = set()
        while len(words) < vocabulary:
            n = int(self.rng.integers(2, 5))
            words.add("".join(self.rng.choice(syllables, n)))
        self.words = np.array(sorted(words))
        ranks = np.arange(1, vocabulary + 1)
        self.common = (1.0 / ranks) / (1.0 / ranks).sum()
        self.topics = [self.rng.choice(vocabulary, 40, replace=False) for _ in range(topics)]

    def text(self, topic: int, n_words: int) -> str:
        common = self.rng.choice(len(self.words), n_words, p=self.common)
        topical = self.rng.choice(self.topics[topic], n_words)
        picks = np.where(self.rng.random(n_words) < 0.35, topical, common)
        words = self.words[picks]
        sentences, start = [], 0
        while start < n_words:
            length = int(self.rng.integers(8, 18))
            chunk = words[start : start + length]
            sentences.append(" ".join(chunk).capitalize() + ".")
            start += length
        return " ".join(sentences)

    def items(self, prefix: str, count: int, *, words: tuple[int, int] = (80, 140)) -> list[services.IngestItem]:
        out = []
        for i in range(count):
            topic = int(self.rng.integers(len(self.topics)))
            n_words = int(self.rng.integers(*words))
            out.append(
                services.IngestItem(
                    external_id=f"{prefix}-{i}",
                    title=f"{prefix} {i} on topic {topic}",
                    text=self.text(topic, n_words),
                    metadata={"topic": topic, "lang": "en" if i % 3 else "de", "year": 2000 + i % 25},
                )
            )
        return out
