"""What must hold for a workspace's content after any fault: every document is complete in all
four data models and nothing exists in one model without its row.

- rows: each Document has exactly ``chunk_count`` Chunk rows, ordinals 0..n-1;
- documents: the DocumentStore holds one body per Document (``workspace_id`` matches) and none
  for documents that do not exist;
- vectors: each vector of the workspace's collections belongs to one of its chunks embedded
  with that collection's model, and each such chunk has exactly one vector (keys are unique);
  a ``ready`` document has every chunk embedded;
- graph: one ``Document`` node per Document, none for documents that do not exist.
"""

from __future__ import annotations

from collections import Counter

from content import stores
from content.models import Chunk, Document
from core.models import VectorRecord
from core.storage.ports import UnknownCollection


def check_workspace(workspace_id: int) -> dict[str, int]:
    """Assert the invariants; return counts (documents, chunks, vectors, nodes)."""
    docs = dict(Document.objects.filter(workspace_id=workspace_id).values_list("id", "chunk_count"))
    status = dict(Document.objects.filter(workspace_id=workspace_id).values_list("id", "status"))
    chunks = list(
        Chunk.objects.filter(workspace_id=workspace_id).values_list("id", "document_id", "ordinal", "embedding_model")
    )
    spans = Chunk.objects.filter(workspace_id=workspace_id).values_list(
        "document_id", "start_offset", "end_offset", "text"
    )

    # rows
    per_doc: dict[int, list[int]] = {}
    for _, doc_id, ordinal, _ in chunks:
        per_doc.setdefault(doc_id, []).append(ordinal)
    assert set(per_doc) <= set(docs), "chunks of a document that does not exist"
    for doc_id, count in docs.items():
        assert sorted(per_doc.get(doc_id, [])) == list(range(count)), f"document {doc_id}: chunks != chunk_count"

    # documents (JSONB bodies)
    try:
        bodies = stores.documents().find_ids(stores.DOCUMENTS_COLLECTION, contains={"workspace_id": workspace_id})
    except UnknownCollection:
        bodies = []
    assert Counter(bodies) == Counter(str(doc_id) for doc_id in docs), "bodies != documents"
    texts = (
        {
            int(key): body["text"]
            for key, body in stores.documents().get_many(stores.DOCUMENTS_COLLECTION, bodies).items()
        }
        if bodies
        else {}
    )
    for doc_id, start, end, text in spans:  # the chunks were cut from this very body
        assert texts[doc_id][start:end] == text, f"document {doc_id}: chunk and body of different versions"

    # vectors
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    collections = [c for c in stores.vectors().list_collections() if c.name.startswith(prefix)]
    vectors = 0
    for collection in collections:
        keys = list(VectorRecord.objects.filter(collection__name=collection.name).values_list("key", flat=True))
        embedded = {str(chunk_id) for chunk_id, _, _, model in chunks if model == collection.model}
        assert len(keys) == len(set(keys)), f"{collection.name}: a chunk has two vectors"
        assert set(keys) == embedded, f"{collection.name}: vectors != chunks embedded with {collection.model}"
        vectors += len(keys)
    for chunk_id, doc_id, _, model in chunks:
        if status[doc_id] == Document.Status.READY:
            assert model, f"chunk {chunk_id} of ready document {doc_id} is not embedded"

    # graph
    rows = stores.graph().cypher(
        "MATCH (d:Document) WHERE d.workspace_id = $ws RETURN d.key", {"ws": workspace_id}, columns=("key",)
    )
    keys = [row["key"] for row in rows]
    assert Counter(keys) == Counter(str(doc_id) for doc_id in docs), "graph nodes != documents"
    return {"documents": len(docs), "chunks": len(chunks), "vectors": vectors, "nodes": len(keys)}
