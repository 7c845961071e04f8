"""The content app: document limits, chunking, embeddings, ingest, search and the home page's
workspace summaries."""

from __future__ import annotations

import json
import os

from core import embedded
from core.settings.env import env_bool, env_int

STRATA_MAX_DOCUMENT_BYTES = env_int("STRATA_MAX_DOCUMENT_BYTES", 4 * 1024 * 1024)
STRATA_MAX_METADATA_BYTES = env_int("STRATA_MAX_METADATA_BYTES", 64 * 1024)
# Selectors that describe a workspace on the home page: "dotted.path" -> callable(workspace_id) -> dict
STRATA_WORKSPACE_SUMMARIES: list[str] = [
    "content.selectors.workspace_summary",
]

# Chunking: "tokens" (fixed windows) or "sentences" (whole sentences packed up to the size);
# size and overlap count word-ish tokens.
STRATA_CHUNK_STRATEGY = os.environ.get("STRATA_CHUNK_STRATEGY", "sentences")
STRATA_CHUNK_SIZE = env_int("STRATA_CHUNK_SIZE", 200)
STRATA_CHUNK_OVERLAP = env_int("STRATA_CHUNK_OVERLAP", 40)
# Embeddings: "hashing" (no model), "sentence-transformers" (optional extra) or "openai".
STRATA_EMBEDDING_PROVIDER = os.environ.get("STRATA_EMBEDDING_PROVIDER", "hashing")
STRATA_EMBEDDING_BATCH_SIZE = env_int("STRATA_EMBEDDING_BATCH_SIZE", 256)
# Chunks per committed slice when the worker embeds (content/vector_slices.py): each slice's
# vectors are written and marked in one short transaction.
STRATA_EMBEDDING_SLICE_SIZE = env_int("STRATA_EMBEDDING_SLICE_SIZE", 64)
STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH", "")
STRATA_SENTENCE_TRANSFORMERS_DEVICE = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_DEVICE", "cpu")
STRATA_OPENAI_BASE_URL = os.environ.get("STRATA_OPENAI_BASE_URL", "https://api.openai.com/v1")
STRATA_OPENAI_API_KEY = os.environ.get("STRATA_OPENAI_API_KEY", "")  # from the environment only
STRATA_OPENAI_EMBEDDING_MODEL = os.environ.get("STRATA_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
# Send `dimensions: 1536`: "auto" (text-embedding-3-* models), "1" or "0".
STRATA_OPENAI_DIMENSIONS = os.environ.get("STRATA_OPENAI_DIMENSIONS", "auto")
STRATA_OPENAI_TIMEOUT = float(os.environ.get("STRATA_OPENAI_TIMEOUT", "30"))
STRATA_OPENAI_MAX_RETRIES = env_int("STRATA_OPENAI_MAX_RETRIES", 5)
# Ingest: documents per transaction in `manage.py ingest`; the size limit of a .json/.jsonl
# file holding many documents (single documents are limited by STRATA_MAX_DOCUMENT_BYTES).
STRATA_INGEST_BATCH_SIZE = env_int("STRATA_INGEST_BATCH_SIZE", 500)
# Threads (each with its own database connection) writing a bulk ingest's batches and marking a
# bulk load's documents ready (content/bulk_ingest.py, core/parallel.py); 1: one after the other.
STRATA_INGEST_WORKERS = env_int("STRATA_INGEST_WORKERS", 2)
# Experimental, off by default: a bulk ingest into a staged load chunks, embeds and COPYs every
# batch's vectors first (ids allocated ahead), then builds the index while the rows are written
# (content/ingest_ahead.py).
STRATA_INGEST_VECTORS_FIRST = env_bool("STRATA_INGEST_VECTORS_FIRST", False)
STRATA_INGEST_MAX_FILE_BYTES = env_int("STRATA_INGEST_MAX_FILE_BYTES", 256 * 1024 * 1024)
# Upload form: size limit of one uploaded file.
STRATA_MAX_UPLOAD_BYTES = env_int("STRATA_MAX_UPLOAD_BYTES", 16 * 1024 * 1024)

# ------------------------------------------------------------------ Search
# Full-text ranking: "auto" (BM25 through pg_textsearch when the server preloads it, else
# ts_rank_cd), "bm25" (required) or "ts_rank".
STRATA_FULLTEXT_RANKING = os.environ.get("STRATA_FULLTEXT_RANKING", "auto")
# How much a document's title counts next to its text (BM25: title score x weight is added).
STRATA_SEARCH_TITLE_WEIGHT = float(os.environ.get("STRATA_SEARCH_TITLE_WEIGHT", "1.0"))
# Hybrid: fusion of the best STRATA_SEARCH_FUSION_POOL candidates of each mode (content/fusion.py):
# "relative_score" (min-max normalised scores, weighted sum; default) or "rrf" (weighted
# reciprocal rank fusion with STRATA_SEARCH_RRF_K). Defaults measured on the tuning split of the
# standard-library corpus (README, "Search relevance"); the semantic weight "auto" is the embedding
# model's measured weight for the method (full-text weighs 1.0).
STRATA_SEARCH_FUSION = os.environ.get("STRATA_SEARCH_FUSION", "relative_score")
STRATA_SEARCH_RRF_K = env_int("STRATA_SEARCH_RRF_K", 3)
STRATA_SEARCH_WEIGHT_SEMANTIC = os.environ.get("STRATA_SEARCH_WEIGHT_SEMANTIC", "auto")
STRATA_SEARCH_WEIGHT_FULLTEXT = float(os.environ.get("STRATA_SEARCH_WEIGHT_FULLTEXT", "1.0"))
# 30: hybrid MRR@10 on the tuning split 0.400 (hashing, as with 100) and 0.492 (MiniLM; 0.498 with
# 100), at about half the latency (README, "Search relevance").
STRATA_SEARCH_FUSION_POOL = env_int("STRATA_SEARCH_FUSION_POOL", 30)
# Relevance floors by embedding model, overriding the model's calibrated floor: a JSON object
# such as {"hashing-1536-v2": 0.2}.
STRATA_RELEVANCE_FLOORS = json.loads(os.environ.get("STRATA_RELEVANCE_FLOORS") or "{}")
# Query embeddings are cached in Redis per workspace, by (model, text), for this long (seconds).
STRATA_QUERY_EMBEDDING_CACHE_SECONDS = env_int("STRATA_QUERY_EMBEDDING_CACHE_SECONDS", 7 * 24 * 3600)
# Threads for encoding one query with sentence-transformers (batches use torch's default).
STRATA_SENTENCE_TRANSFORMERS_QUERY_THREADS = env_int("STRATA_SENTENCE_TRANSFORMERS_QUERY_THREADS", 1)
# What encodes one MiniLM query: "onnx" (ONNX Runtime on a graph exported once from the shipped
# weights, checked against torch; torch when onnxruntime is missing or the export fails) or "torch".
STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME", "onnx")
# Where models derived from shipped weights (the MiniLM ONNX export) are kept.
STRATA_MODEL_CACHE_DIR = os.environ.get("STRATA_MODEL_CACHE_DIR") or str(embedded.data_dir() / "models")
