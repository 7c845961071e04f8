"""Identifier rules for the AGE graph (shared by the migration and the graph adapter)."""

from __future__ import annotations

import re

from core.storage.ports import InvalidName

# AGE graph names: 3..63 chars; labels: Postgres identifiers. No quoting tricks allowed.
_GRAPH_NAME = re.compile(r"^[a-z_][a-z0-9_]{2,62}$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def validate_graph_name(name: str) -> str:
    if not isinstance(name, str) or not _GRAPH_NAME.fullmatch(name):
        raise InvalidName(f"invalid graph name {name!r}: use 3-63 lowercase letters, digits or _")
    return name


def validate_label(label: str) -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or label.startswith("_ag_"):
        raise InvalidName(f"invalid label {label!r}: use a letter then up to 62 letters, digits or _")
    return label
