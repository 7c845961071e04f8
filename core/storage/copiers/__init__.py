"""Copying and comparing one app's data between two backends of one kind, through the ports
only (``storage_move``'s backfill and verification; ``core.storage.moves`` drives them).

``base`` holds the ``Copier`` contract every kind implements and the race with live writes it
handles; ``documents``, ``vectors`` and ``graph`` hold one copier a kind; ``COPIERS`` names the
copier of each kind.
"""

from __future__ import annotations

from core.storage.copiers.base import Copier
from core.storage.copiers.documents import DocumentCopier
from core.storage.copiers.graph import GraphCopier
from core.storage.copiers.vectors import VectorCopier

COPIERS: dict[str, type[Copier]] = {"documents": DocumentCopier, "vectors": VectorCopier, "graph": GraphCopier}
