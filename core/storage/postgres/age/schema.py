"""Identifier rules for the AGE graph (shared by the migration and the graph adapter)."""

from __future__ import annotations

import re

from core.storage.graph_input import validate_label
from core.storage.ports.errors import InvalidName

# AGE graph names: 3..63 chars; labels: the port's rule (a letter, then letters, digits or _).
_GRAPH_NAME = re.compile(r"^[a-z_][a-z0-9_]{2,62}$")

__all__ = ["validate_graph_name", "validate_label"]


def validate_graph_name(name: str) -> str:
    if not isinstance(name, str) or not _GRAPH_NAME.fullmatch(name):
        raise InvalidName(f"invalid graph name {name!r}: use 3-63 lowercase letters, digits or _")
    return name
