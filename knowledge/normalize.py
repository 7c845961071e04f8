"""Names as entity resolution compares them, and the keys new entities get (linear time)."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = " \t\r\n.,;:!?'\"()[]{}<>`*_~|"
_KEY_CHARS = re.compile(r"[^\w.+#/-]+")  # letters and digits of every script stay
MAX_NAME = 255
MAX_KEY = 200


def normalize_name(name: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed, punctuation trimmed at both ends:
    "  Ada  LOVELACE. " and "ada lovelace" are the same name."""
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    text = _SPACE.sub(" ", text).strip(_EDGE_PUNCT)
    return text[:MAX_NAME]


def key_for(name: str) -> str:
    """The key a new entity gets from its name: its normalized form with runs of other
    characters as ``-`` (``Ada Lovelace`` -> ``ada-lovelace``, ``Мария Кюри`` -> ``мария-кюри``)."""
    text = _KEY_CHARS.sub("-", normalize_name(name)).strip("-")
    return (text or "entity")[:MAX_KEY]
