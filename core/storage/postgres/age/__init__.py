"""GraphStore adapter on Apache AGE (one graph inside the project's PostgreSQL).

Data lives in AGE's own tables, so Cypher keeps working on it:

* a node label ``L`` is the vertex table ``"<graph>"."L"`` (``id graphid``, ``properties agtype``).
  The node's key is stored as its ``key`` property, unique per label through the expression index
  ``agtype_access_operator(VARIADIC ARRAY[properties, '"key"'])`` (used by ``WHERE n.key = $k``
  and by ``INSERT ... ON CONFLICT``); a GIN index on ``properties`` serves ``MATCH (n:L {key: $k})``.
  ``key`` is therefore a reserved property name: node properties named ``key`` are refused.
* an edge type ``T`` is the edge table ``"<graph>"."T"`` (``id, start_id, end_id, properties``)
  with a unique index on ``(start_id, end_id)`` (one edge per type + source + target), one on
  ``(end_id, start_id)`` and a unique one on ``id``.

Writes are plain SQL on those tables (set-based for ``bulk_load``, skipping unchanged rows);
scans and counts page through them (``scan.py``). Each traversal is ONE SQL statement over the
label tables (``traversal.py``, ``paths.py``), never Cypher variable-length paths, which are two
to three orders of magnitude slower on AGE. The label catalogue lives in memory
(``catalogue.py``), checked against a version each traversal returns. Every method
runs on ``django.db.connections[using]``, so on ``default`` it joins the caller's
``transaction.atomic()`` (``features.joins_db_transaction``).

Values: node keys are 1-255 printable characters; properties are JSON objects (no NaN/Infinity,
no NUL characters, integers within 64 bits). ``cypher()`` results are converted from agtype
text to the port's neutral values: vertices become ``Node``, edges ``Edge`` (their endpoints
resolved to (label, key)), paths ``Path``, ``::numeric`` values floats.
"""

from core.storage.postgres.age.base import MAX_DEPTH
from core.storage.postgres.age.stats import LabelTableStats
from core.storage.postgres.age.store import AgeGraphStore
from core.storage.postgres.age.values import parse_agtype

__all__ = ["MAX_DEPTH", "AgeGraphStore", "LabelTableStats", "parse_agtype"]
