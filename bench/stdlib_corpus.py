"""A known-item search corpus from the Python standard library's docstrings, and its TF-IDF baseline.

    python bench/stdlib_corpus.py OUT_DIR [--seed 7] [--tune 500] [--test 500]

Reads the standard library's source with ``ast`` (nothing is imported or executed; test
packages are skipped). Every module, class and function docstring with at least two sentences
becomes a document: title = the qualified name (``json.decoder.JSONDecoder.raw_decode``),
text = the docstring after its first sentence; the first sentence is the known-item query for
it (queries shared by several docstrings are dropped as ambiguous). Writes

    OUT_DIR/corpus.jsonl        {"external_id", "title", "text", "metadata"}   -> manage.py ingest
    OUT_DIR/queries-tune.jsonl  {"query", "external_id"}   (tuning split)      -> manage.py search_eval
    OUT_DIR/queries-test.jsonl  {"query", "external_id"}   (held-out split)

and, when scikit-learn is installed (``pip install -e ".[bench]"``), prints the corpus's own
TF-IDF baseline: unigrams + bigrams, cosine, over title + text, scored like search_eval.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sys
import sysconfig
from collections import Counter
from pathlib import Path

SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "__phello__"}
MIN_QUERY_WORDS = 4
MIN_TEXT_WORDS = 6


def split_first_sentence(docstring: str) -> tuple[str, str]:
    """(first sentence, rest): the first '.', '!' or '?' followed by whitespace ends it (one scan)."""
    text = " ".join(docstring.split())
    for i, ch in enumerate(text[:-1]):
        if ch in ".!?" and text[i + 1] == " " and i > 0 and not text[i - 1].isupper():
            return text[: i + 1], text[i + 2 :]
    return text, ""


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _docstrings(tree: ast.Module, module: str):
    yield module, "module", ast.get_docstring(tree)
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                kind = "class" if isinstance(child, ast.ClassDef) else "function"
                yield name, kind, ast.get_docstring(child)
                stack.append((child, name))


def build(seed: int = 7) -> tuple[list[dict], list[dict]]:
    """(documents, known items) from this interpreter's standard library, in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    documents: dict[str, dict] = {}
    queries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            path = Path(dirpath) / filename
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            module = _module_name(root, path)
            for name, kind, docstring in _docstrings(tree, module):
                if not docstring or name in documents:
                    continue
                query, text = split_first_sentence(docstring)
                if len(query.split()) < MIN_QUERY_WORDS or len(text.split()) < MIN_TEXT_WORDS:
                    continue
                documents[name] = {
                    "external_id": name,
                    "title": name,
                    "text": text,
                    "metadata": {"module": module.split(".")[0], "kind": kind},
                }
                queries[name] = query
    counts = Counter(queries.values())
    items = [{"query": q, "external_id": name} for name, q in queries.items() if counts[q] == 1]
    random.Random(seed).shuffle(items)
    return list(documents.values()), items


def tfidf_baseline(documents: list[dict], items: list[dict]) -> dict[str, float]:
    """MRR@10, R@1, R@10 of TF-IDF (unigrams + bigrams, cosine) over title + text."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = [d["external_id"] for d in documents]
    position = {external_id: i for i, external_id in enumerate(ids)}
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    matrix = vectorizer.fit_transform([f"{d['title']}\n\n{d['text']}" for d in documents])
    queries = vectorizer.transform([item["query"] for item in items])
    mrr = r1 = r10 = 0.0
    for row, item in enumerate(items):
        scores = (matrix @ queries[row].T).toarray().ravel()  # rows are L2-normalised: cosine
        target = scores[position[item["external_id"]]]
        if target <= 0:
            continue
        rank = 1 + int(np.sum(scores > target))  # ties are counted in the target's favour
        mrr += 1.0 / rank if rank <= 10 else 0.0
        r1 += rank == 1
        r10 += rank <= 10
    n = len(items)
    return {"queries": n, "mrr@10": round(mrr / n, 4), "r@1": round(r1 / n, 4), "r@10": round(r10 / n, 4)}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tune", type=int, default=500, help="queries in the tuning split")
    parser.add_argument("--test", type=int, default=500, help="queries in the held-out split")
    args = parser.parse_args(argv)
    documents, items = build(seed=args.seed)
    tune, test = items[: args.tune], items[args.tune : args.tune + args.test]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out_dir / "corpus.jsonl", documents)
    write_jsonl(args.out_dir / "queries-tune.jsonl", tune)
    write_jsonl(args.out_dir / "queries-test.jsonl", test)
    print(
        f"Python {sys.version.split()[0]} standard library: {len(documents)} documents, {len(items)} unambiguous "
        f"known items ({len(tune)} tune, {len(test)} test) in {args.out_dir}"
    )
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print('TF-IDF baseline skipped: scikit-learn is not installed (pip install -e ".[bench]")')
        return 0
    for name, split in (("tune", tune), ("test", test)):
        print(f"TF-IDF baseline (unigrams+bigrams, cosine), {name}: {json.dumps(tfidf_baseline(documents, split))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
