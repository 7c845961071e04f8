"""VectorStore on Qdrant (``qdrant-client``): a server (``url=``, ``api_key=``) or the client's
local mode (``path=``, what CI tests). See ``store.py``."""

from core.storage.qdrant.store import QdrantVectorStore

__all__ = ["QdrantVectorStore"]
