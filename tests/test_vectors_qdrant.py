"""QdrantVectorStore: the vector contract suite in the client's local mode, plus what is
specific to Qdrant (point ids, collection names and metadata, server settings)."""

from __future__ import annotations

import uuid

import pytest

from core.storage.ports import VectorItem
from core.storage.qdrant import QdrantVectorStore
from core.storage.qdrant.client import close_local_clients, point_id
from tests.contracts.vector_contract import VectorStoreContract
from tests.unreachable import closed_port

MODEL = "model-a"


@pytest.fixture
def qdrant(tmp_path):
    yield QdrantVectorStore(path=tmp_path / "qdrant", prefix=f"t{uuid.uuid4().hex[:8]}")
    close_local_clients()


@pytest.mark.django_db
class TestQdrantVectorStore(VectorStoreContract):
    @pytest.fixture
    def store(self, qdrant):
        return qdrant

    @pytest.fixture
    def unavailable_store(self):
        return QdrantVectorStore(url=f"http://127.0.0.1:{closed_port()}", timeout=2)


def test_points_are_keyed_by_uuid5_with_the_key_in_the_payload(qdrant):
    qdrant.create_collection("c", dimension=4, model=MODEL)
    qdrant.upsert("c", [VectorItem("doc:1", [1.0, 2.0, 0.0, 0.0], {"a": 1})], model=MODEL)
    with qdrant._session() as client:
        [record] = client.retrieve("".join([qdrant.prefix, ".n.c"]), [point_id("doc:1")], with_payload=True)
    assert uuid.UUID(str(record.id)).version == 5
    assert record.payload["key"] == "doc:1" and record.payload["metadata"] == {"a": 1}
    assert record.payload["norm"] == pytest.approx(5**0.5)


def test_names_qdrant_refuses_are_hashed_and_model_metadata_is_kept(qdrant):
    qdrant.create_collection("ws:1", dimension=4, model=MODEL, metric="l2")
    [listed] = qdrant.list_collections()
    assert (listed.name, listed.model, listed.metric) == ("ws:1", MODEL, "l2")
    with qdrant._session() as client:
        names = [c.name for c in client.get_collections().collections]
    assert names == [f"{qdrant.prefix}.h.{__import__('hashlib').sha1(b'ws:1').hexdigest()}"]


def test_server_settings(settings):
    store = QdrantVectorStore(url="http://qdrant:6333", api_key="secret", prefix="p")
    assert store.path is None and store.features.builds_payload_indexes is True
    assert QdrantVectorStore(path="/tmp/q").features.builds_payload_indexes is False
    assert "secret" not in repr(store)
    with pytest.raises(ValueError):
        QdrantVectorStore(url="http://qdrant:6333", path="/tmp/q")
