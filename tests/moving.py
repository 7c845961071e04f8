"""Helpers of the storage move tests: content routed over Postgres/AGE and dedicated backends
(Qdrant's local mode, FalkorDB), a corpus with topics of their own, background ingest and relay
threads, and what the stores hold for a workspace, read through the ports."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from django.db import connection

from content import selectors, services, stores
from content.models import Chunk, Document
from content.services import IngestItem
from core import outbox
from core.storage import filters, routing, storages
from core.storage.falkordb import FalkorGraphStore
from core.storage.ports import UnknownCollection, UnknownLabel
from core.storage.qdrant.client import close_local_clients

PG_VECTORS = {"BACKEND": "core.storage.postgres.vectors.PostgresVectorStore"}
AGE = {"BACKEND": "core.storage.postgres.age.AgeGraphStore"}
TOPICS = {
    "birds": "heron egret plover sandpiper wader marsh feather beak nest migration",
    "stars": "nebula quasar pulsar galaxy telescope orbit comet photon redshift",
    "bread": "sourdough yeast flour crust knead oven rye dough ferment loaf",
    "ships": "hull keel rudder mast sail anchor harbour tide voyage captain",
}
CHURN = "zebra quokka tapir okapi lemur gecko iguana wombat"


def content_storage(tmp_path: Path, *, falkordb: dict[str, Any] | None = None) -> dict[str, Any]:
    """STRATA_STORAGE["content"]: vectors on postgres (default) or qdrant, graph on age (default)
    or falkordb, each dedicated backend private to the test."""
    return {
        "vectors": {
            "DEFAULT": "postgres",
            "postgres": PG_VECTORS,
            "qdrant": {
                "BACKEND": "core.storage.qdrant.QdrantVectorStore",
                "path": str(tmp_path / "qdrant"),
                "prefix": f"mv{uuid.uuid4().hex[:8]}",
            },
        },
        "graph": {
            "DEFAULT": "age",
            "age": AGE,
            "falkordb": falkordb
            or {"BACKEND": "core.storage.falkordb.FalkorGraphStore", "graph": f"mv_{uuid.uuid4().hex[:12]}"},
        },
    }


def drop_dedicated() -> None:
    """Drop the test's FalkorDB graph and release Qdrant's local directory."""
    try:
        graph = storages.backend("content", "graph", "falkordb")
        if isinstance(graph, FalkorGraphStore):
            graph.drop_graph()
            graph.close()
    except Exception:  # noqa: BLE001 (a test that stopped its server)
        pass
    close_local_clients()
    storages.reset()
    routing.clear_cache()


def topic_text(topic: str, n: int, rng: random.Random) -> str:
    words = TOPICS[topic].split()
    return " ".join(f"{' '.join(rng.sample(words, 6))} number {n}." for _ in range(6))


def corpus(count: int, *, seed: int = 1) -> list[IngestItem]:
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    return [
        IngestItem(
            f"doc-{i}",
            f"{topics[i % len(topics)].title()} note {i}",
            topic_text(topics[i % len(topics)], i, rng),
            metadata={"topic": topics[i % len(topics)], "n": i},
        )
        for i in range(count)
    ]


def churn_item(n: int, version: int = 0) -> IngestItem:
    words = CHURN.split()
    text = " ".join(f"{words[(n + k) % len(words)]} {words[(n * 3 + k) % len(words)]} v{version}." for k in range(8))
    return IngestItem(f"churn-{n}", f"Churn {n}", text, metadata={"churn": True})


class Background:
    """Threads that keep ingesting (new churn documents, updates of some, deletions of others)
    and relaying the outbox until stopped."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.batches = 0
        self.deleted: list[int] = []
        self.threads = [
            threading.Thread(target=self._run, args=(fn,), daemon=True) for fn in (self._ingest, self._relay)
        ]

    def _run(self, fn: Any) -> None:
        try:
            while not self.stop.is_set():
                fn()
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            self.errors.append(error)
        finally:
            connection.close()

    def _ingest(self) -> None:
        n = self.batches
        items = [churn_item(n * 3 + i) for i in range(3)]
        if n >= 2:
            items.append(churn_item((n - 2) * 3, version=n))  # an update: its chunks are replaced
        services.document_ingest(workspace_id=self.workspace_id, items=items, embed=True)
        if n >= 3 and n % 3 == 0:
            victim = Document.objects.filter(workspace_id=self.workspace_id, external_id=f"churn-{(n - 3) * 3 + 1}")
            for doc_id in victim.values_list("id", flat=True):
                services.document_delete(workspace_id=self.workspace_id, document_id=doc_id)
                self.deleted.append(doc_id)
        self.batches += 1
        time.sleep(0.05)

    def _relay(self) -> None:
        if not outbox.relay().processed:
            time.sleep(0.05)

    def __enter__(self) -> Background:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not self.errors, self.errors


def drain() -> None:
    while outbox.relay().processed:
        pass


def answers(workspace_id: int, doc_ids: list[int], keep: set[int]) -> dict[str, Any]:
    """What the search page and the document page show, for queries and pages of documents in
    ``keep`` (hits of other documents, added or changed meanwhile, are left out)."""
    found: dict[str, Any] = {}
    for topic, words in TOPICS.items():
        query = " ".join(words.split()[:3])
        for mode in ("semantic", "hybrid"):
            if mode == "semantic":
                hits = selectors.search(workspace_id=workspace_id, query=query, mode=mode, limit=20)
                found[f"{mode}:{topic}"] = [(h.document_id, h.chunk_id) for h in hits if h.document_id in keep][:8]
            else:  # hybrid fuses BM25, whose corpus statistics move with every document ingested
                # meanwhile (near ties swap): every hit among ``keep``, in any order
                hits = selectors.search(workspace_id=workspace_id, query=query, mode=mode, limit=100)
                found[f"{mode}:{topic}"] = sorted((h.document_id, h.chunk_id) for h in hits if h.document_id in keep)
        filtered = selectors.search(
            workspace_id=workspace_id, query=query, mode="semantic", filters={"topic": topic}, limit=10
        )
        found[f"filtered:{topic}"] = [h.document_id for h in filtered if h.document_id in keep][:5]
    for doc_id in doc_ids:
        page = selectors.document_with_context(workspace_id=workspace_id, document_id=doc_id)
        found[f"page:{doc_id}"] = {
            "text": page.text,
            "similar": [s.document_id for s in page.similar if s.document_id in keep][:5],
            "related": sorted((n.label, n.key) for n in page.related if not n.key.isdigit() or int(n.key) in keep),
        }
    return found


def stored(workspace_id: int) -> dict[str, Any]:
    """What the backends serving reads hold for the workspace, through the ports, checked
    against the rows: every document's body and node once, every embedded chunk's vector once,
    nothing else."""
    docs = set(Document.objects.filter(workspace_id=workspace_id).values_list("id", flat=True))
    chunks = dict(Chunk.objects.filter(workspace_id=workspace_id).values_list("id", "embedding_model"))
    bodies = Counter(
        int(key)
        for key in stores.documents().find_ids(stores.DOCUMENTS_COLLECTION, contains={"workspace_id": workspace_id})
    )
    graph = stores.graph()
    nodes: Counter[int] = Counter()
    after = None
    while True:
        page = graph.scan_nodes(
            stores.GRAPH_LABEL, where=filters.Eq("workspace_id", workspace_id), after=after, limit=1000
        )
        nodes.update(int(node.key) for node in page.items)
        after = page.next_cursor
        if after is None:
            break
    vectors: Counter[int] = Counter()
    model = services.workspace_embedding_model(workspace_id=workspace_id)
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    try:
        after = None
        while True:
            page = stores.vectors().scan(collection, after=after, limit=1000, with_vectors=False)
            vectors.update(int(item.key) for item in page.items)
            after = page.next_cursor
            if after is None:
                break
        count = stores.vectors().count(collection)
    except (UnknownCollection, UnknownLabel):
        count = 0
    embedded = {chunk_id for chunk_id, m in chunks.items() if m == model}
    assert max(bodies.values(), default=1) == 1 and set(bodies) == docs, "bodies != documents"
    assert max(nodes.values(), default=1) == 1 and set(nodes) == docs, "graph nodes != documents"
    assert max(vectors.values(), default=1) == 1 and count == len(vectors), "a chunk has two vectors"
    assert set(vectors) == embedded, (
        f"vectors != embedded chunks: {len(set(vectors) - embedded)} orphans, {len(embedded - set(vectors))} missing"
    )
    return {"documents": len(docs), "vectors": len(vectors), "nodes": len(nodes)}


class CuttableProxy:
    """A TCP port forwarding to a Unix socket (the embedded FalkorDB's) that the test can cut
    (every connection closed, new ones refused) and restore: a store that goes down and comes
    back, as its clients see it."""

    def __init__(self, socket_path: str) -> None:
        import socket

        self.socket_path = socket_path
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: Any = None
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def restore(self) -> None:
        import socket

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        import socket

        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    close = cut

    def _accept(self, listener: Any) -> None:
        import socket

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.socket_path)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass
