"""What every GraphStore adapter must do. Uses only the port API and the port errors.

Subclass it as ``class TestMyGraphStore(GraphStoreContract)`` and provide the ``store`` fixture:
a store on an EMPTY graph (no labels, types, nodes or edges), plus whatever marks the adapter
needs (e.g. ``pytest.mark.django_db``); an ``unavailable_store`` fixture (the adapter pointed at a
server that does not answer); and, when ``store``'s writes are not visible to other threads
(a store inside the test's transaction), a ``concurrent_store`` fixture whose writes are.
Cases are skipped only where ``store.features`` says the adapter cannot do them.

Rules every adapter follows (the port leaves them implicit, this suite pins them down):
* labels and edge types are ``[A-Za-z][A-Za-z0-9_]{0,62}``; node keys are 1-255 printable
  characters; anything else raises InvalidName.
* properties are JSON objects; NaN/Infinity, NUL characters and non-JSON values raise
  MalformedDocument. A property named ``key`` never changes a node's key.
* orderings compare strings by code point (``"B" < "Z" < "a"``).
* traversals start at an existing node (else NodeNotFound); ``k``/``depth``/``max_depth``/
  ``limit`` are integers >= 1 (else InvalidInput); unknown labels/types raise UnknownLabel.
"""

from tests.contracts.graph_data import GraphFixtures, run_threads
from tests.contracts.graph_query_cases import GraphQueryCases
from tests.contracts.graph_scale_cases import GraphScaleCases
from tests.contracts.graph_traversal_cases import GraphTraversalCases
from tests.contracts.graph_write_cases import GraphWriteCases

__all__ = ["GraphFixtures", "GraphStoreContract", "run_threads"]


class GraphStoreContract(GraphWriteCases, GraphTraversalCases, GraphScaleCases, GraphQueryCases):
    """Every case of the graph contract (graph_write_cases, graph_traversal_cases, graph_scale_cases,
    graph_query_cases)."""
