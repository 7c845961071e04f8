"""Vectors are stored in strata_vector's own pages, not its TOAST table (migration 0008)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from core.storage.ports import VectorItem
from core.storage.postgres.vectors import PostgresVectorStore

DIM = 1536
MODEL = "model-a"


def _toasted(key: str) -> tuple[bool, bool]:
    """(embedding, metadata) of the row stored out of line (PostgreSQL 17+)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(embedding) IS NOT NULL, pg_column_toast_chunk_id(metadata) IS NOT NULL "
            "FROM strata_vector WHERE key = %s",
            [key],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_the_migration_keeps_vectors_inline():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'strata_vector'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone()[0] == "m"
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'strata_vector'::regclass")
        assert "toast_tuple_target=8160" in cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_vector_and_its_small_metadata_stay_in_the_row_and_large_metadata_moves_out_first():
    store = PostgresVectorStore()
    store.create_collection("inline", dimension=DIM, model=MODEL)
    rng = np.random.default_rng(1)
    words = " ".join(f"{rng.integers(10**9):x}" for _ in range(2000))  # ~17 KB that hardly compresses
    store.upsert(
        "inline",
        [
            VectorItem("small", rng.standard_normal(DIM), {"tag": "a", "n": 1}),
            VectorItem("large", rng.standard_normal(DIM), {"text": words}),
        ],
        model=MODEL,
    )
    assert _toasted("small") == (False, False)  # one page holds the whole row
    assert _toasted("large") == (False, True)  # the metadata went to TOAST, not the vector
    got = store.get_many("inline", ["small", "large"])
    assert got["large"].metadata == {"text": words}
    assert len(got["small"].vector) == DIM


@pytest.mark.django_db
def test_the_metadata_gin_index_has_no_pending_list():
    """Migration 0009: every filtered search scans a GIN pending list whole, so there is none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'strata_vector_metadata_gin'")
        assert "fastupdate=off" in cursor.fetchone()[0]
