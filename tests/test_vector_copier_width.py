"""storage_move keeps a collection's index width: a MiniLM collection (384 of its 1536 components
used) moved from PostgreSQL to Qdrant and back to PostgreSQL indexes 384 components again, and a
collection copied to another PostgreSQL database keeps the index kind and width its source has."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from django.db import connections

from content.selectors import native_dimension
from core.storage import namespaces
from core.storage.copiers.vectors import VectorCopier
from core.storage.ports import VectorItem
from core.storage.postgres.models import VectorCollectionRecord, VectorRecord
from core.storage.postgres.vectors import PostgresVectorStore
from core.storage.qdrant import QdrantVectorStore
from core.storage.qdrant.client import close_local_clients

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIM, USED = 1536, 384
NAME = "content.ws999.width-check"


@pytest.fixture
def qdrant(tmp_path):
    yield QdrantVectorStore(path=tmp_path / "qdrant", prefix=f"t{uuid.uuid4().hex[:8]}")
    close_local_clients()


def padded(count: int) -> list[VectorItem]:
    rng = np.random.default_rng(7)
    out = np.zeros((count, DIM), np.float32)
    out[:, :USED] = rng.standard_normal((count, USED))
    return [VectorItem(f"k{i:03d}", out[i]) for i in range(count)]


def copy(source, target, unit: str) -> int:
    copier = VectorCopier("content", namespaces.namespace("content"), source, target)
    copier.prepare(unit)
    copied, after = copier.copy_page(unit, None)
    while after is not None:
        more, after = copier.copy_page(unit, after)
        copied += more
    return copied


@pytest.mark.django_db
def test_a_collection_moved_to_qdrant_and_back_keeps_its_index_width(qdrant):
    assert native_dimension(MODEL) == USED
    postgres = PostgresVectorStore()
    postgres.create_collection(NAME, dimension=DIM, model=MODEL, index_dimensions=USED)
    postgres.upsert(NAME, padded(20), model=MODEL)
    assert postgres.get_collection(NAME).index_dimensions == USED  # the public spec says it
    assert copy(postgres, qdrant, NAME) == 20
    postgres.drop_collection(NAME)
    assert copy(qdrant, postgres, NAME) == 20  # Qdrant does not record it: the app's width for the model
    spec = postgres.get_spec(NAME)
    assert spec.index_dimensions == USED
    assert postgres.count(NAME) == 20


@pytest.fixture
def second_postgres():
    """A second PostgreSQL vector store: the vector tables created in the ``documents`` database
    for this test (rolled back with it)."""
    with connections["documents"].cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    with connections["documents"].schema_editor() as editor:
        editor.create_model(VectorCollectionRecord)
        editor.create_model(VectorRecord)
    return PostgresVectorStore(using="documents")


@pytest.mark.django_db(databases=["default", "documents"])
def test_a_collection_copied_to_another_postgres_keeps_its_index_kind_and_width(second_postgres):
    # a model the app does not know (1536 by default) keeps the width its PostgreSQL collection has
    name = "content.ws999.other"
    postgres = PostgresVectorStore()
    postgres.create_collection(name, dimension=DIM, model="model-x", index="binary", index_dimensions=256)
    rng = np.random.default_rng(3)
    vectors = np.zeros((5, DIM), np.float32)
    vectors[:, :256] = rng.standard_normal((5, 256))
    postgres.upsert(name, [VectorItem(f"k{i}", vectors[i]) for i in range(5)], model="model-x")
    assert copy(postgres, second_postgres, name) == 5
    copied = second_postgres.get_spec(name)
    assert (copied.index_type, copied.index_dimensions) == ("binary", 256)
