"""The staff Cypher console: parameters bound, read-only, a statement timeout, workspace-isolated.

* **Parameters** travel as one bound JSON value (the GraphStore port's ``cypher``); the console
  adds ``$workspace`` (the current workspace's id) and never formats anything into the text.
* **Read-only**: a query whose clauses write (CREATE, MERGE, SET, DELETE, REMOVE, DROP, CALL,
  LOAD CSV, FOREACH; found by a linear-time scan that skips strings and comments) is refused before
  it runs; the engine refuses one the scan missed: on AGE the query runs in a READ ONLY
  transaction (or, nested in one, a savepoint) that is always rolled back, as a role that may
  only SELECT; on FalkorDB through ``GRAPH.RO_QUERY``.
* **Timeout**: ``SET LOCAL statement_timeout`` (``STRATA_CYPHER_TIMEOUT_MS``, AGE); a dedicated
  store uses its adapter's own timeout.
* **Workspace isolation** (AGE): the query runs under row security that shows only this
  workspace's vertices and edges (``knowledge/console_rls.py``), so no clause can read another
  workspace, and scalar results (counts, properties) are allowed. Rows holding a graph element of
  another workspace are still dropped (and counted) as a second guard; there should be none.
* **On a store without row security** (FalkorDB) the console is refused unless
  ``STRATA_CYPHER_CONSOLE_UNISOLATED`` is on; then results must be graph elements of this
  workspace (scalars are refused) and a WHERE clause can still read other workspaces' properties.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from core.storage.ports import Edge, InvalidInput, Node, NotSupported, Path, StoreUnavailable
from knowledge import console_rls, stores

MAX_QUERY_CHARS = 4000
MAX_PARAMS_CHARS = 16_000
MAX_ROWS = 200
WRITE_WORDS = frozenset({"CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "DROP", "CALL", "LOAD", "FOREACH"})
_AROUND_ROW_SECURITY = frozenset({"VERTEX_STATS"})
_END_OF_RETURN = frozenset({"ORDER", "SKIP", "LIMIT", "UNION"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TOKEN = re.compile(
    r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|`[^`]*`?|//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?|[A-Za-z_][A-Za-z0-9_]*|\$?[A-Za-z_][A-Za-z0-9_]*|[(){}\[\],]|\s+|."""  # noqa: E501
)


class ConsoleError(ValueError):
    """A query or parameters the console refuses (shown on the page, a 400)."""


@dataclass
class ConsoleResult:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    dropped: int = 0
    truncated: bool = False


def parse_params(text: str) -> dict[str, Any]:
    """The parameters: a JSON object with identifier names (``workspace`` is the console's)."""
    text = (text or "").strip()
    if not text:
        return {}
    if len(text) > MAX_PARAMS_CHARS:
        raise ConsoleError(f"parameters longer than {MAX_PARAMS_CHARS} characters")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ConsoleError('parameters must be a JSON object, e.g. {"name": "requests"}') from None
    if not isinstance(value, dict):
        raise ConsoleError("parameters must be a JSON object")
    for name in value:
        if not _NAME.fullmatch(name):
            raise ConsoleError(f"invalid parameter name {name[:70]!r}: use letters, digits and _")
        if name == "workspace":
            raise ConsoleError("$workspace is set by the console (the current workspace's id)")
    return value


def _tokens(query: str) -> list[str]:
    """Significant tokens: words (upper-cased), punctuation; strings, names in backticks and
    comments are kept whole (their content never counts as a keyword)."""
    found = []
    for match in _TOKEN.finditer(query):
        token = match.group()
        if token.isspace() or token.startswith(("//", "/*")):
            continue
        found.append(token.upper() if token[0].isalpha() or token[0] == "_" else token)
    return found


def return_columns(tokens: list[str]) -> list[str]:
    """Column names of the last top-level RETURN (its alias, else c1, c2, ...)."""
    positions = [i for i, t in enumerate(tokens) if t == "RETURN"]
    if not positions:
        raise ConsoleError("the query must end with a RETURN clause")
    items, depth, current = [], 0, []
    for token in tokens[positions[-1] + 1 :]:
        if depth == 0 and token in _END_OF_RETURN:
            break
        if token in "([{" and len(token) == 1:
            depth += 1
        elif token in ")]}" and len(token) == 1:
            depth -= 1
        if depth == 0 and token == ",":
            items.append(current)
            current = []
        else:
            current.append(token)
    items.append(current)
    items = [item for item in items if item]
    if not items or items[0] == ["DISTINCT"] or items[0][0] == "*":
        raise ConsoleError("name what RETURN returns (not *)")
    names = []
    for number, item in enumerate(items, start=1):
        alias = item[-1].lower() if len(item) >= 3 and item[-2] == "AS" else f"c{number}"
        names.append(alias if _NAME.fullmatch(alias) and alias not in names else f"c{number}")
    return names


def check_query(query: str) -> list[str]:
    if not isinstance(query, str) or not query.strip():
        raise ConsoleError("enter a Cypher query")
    if len(query) > MAX_QUERY_CHARS:
        raise ConsoleError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        raise ConsoleError("the query contains a NUL character")
    tokens = _tokens(query)
    writes = sorted({t for t in tokens if t in WRITE_WORDS})
    if writes:
        raise ConsoleError(f"the console is read-only: {', '.join(writes)} is not allowed")
    check_reads(tokens)
    return return_columns(tokens)


def check_reads(tokens: list[str]) -> None:
    """Refuse what reads the graph around row security (``knowledge/console_rls.py``): a
    variable-length relationship ``-[*1..3]->`` (AGE walks an in-memory copy of every edge), a
    function outside Cypher's own (``schema.function(...)``) and ``vertex_stats``. Linear time."""
    depth = 0  # inside a relationship pattern's brackets: its nesting depth
    for i, token in enumerate(tokens):
        if depth:
            depth += {"[": 1, "]": -1}.get(token, 0)
            if depth == 1 and token == "*":
                raise ConsoleError(
                    "variable-length relationships (-[*..]->) are not allowed in the console: AGE "
                    "reads them around row security; chain fixed hops or use the entity page"
                )
        elif token == "[" and i and tokens[i - 1] == "-":
            depth = 1
        if token == "(" and i >= 2 and tokens[i - 2] == ".":
            raise ConsoleError("qualified function calls (schema.function()) are not allowed in the console")
        if token in _AROUND_ROW_SECURITY and i + 1 < len(tokens) and tokens[i + 1] == "(":
            raise ConsoleError(f"{token.lower()}() is not allowed in the console")


def _scoped(workspace_id: int, value: Any) -> bool | None:
    """True: only this workspace's graph elements; False: one of another workspace; None: a
    value that is not a graph element."""
    if isinstance(value, Node):
        return stores.belongs(workspace_id, value)
    if isinstance(value, Edge):
        return stores.belongs(workspace_id, value.source) and stores.belongs(workspace_id, value.target)
    if isinstance(value, Path):
        return all(_scoped(workspace_id, v) for v in [*value.nodes, *value.edges])
    if isinstance(value, list):
        parts = [_scoped(workspace_id, v) for v in value]
        if any(p is None for p in parts):
            return None
        return all(parts)
    return None


def _show(workspace_id: int, value: Any) -> str:
    if isinstance(value, Node):
        props = {k: v for k, v in value.properties.items() if k != "workspace_id"}
        return f"({value.label} {stores.local_key(workspace_id, value.key)} {json.dumps(props, default=str)[:300]})"
    if isinstance(value, Edge):
        source = stores.local_key(workspace_id, value.source.key)
        target = stores.local_key(workspace_id, value.target.key)
        return f"[{source} -{value.type}-> {target}]"
    if isinstance(value, Path):
        return " ".join(_show(workspace_id, v) for v in [*value.nodes, *value.edges])
    if isinstance(value, list):
        return "[" + ", ".join(_show(workspace_id, v) for v in value) + "]"
    return json.dumps(value, default=str)[:300]


def run(*, workspace_id: int, query: str, params: dict[str, Any]) -> ConsoleResult:
    columns = check_query(query)
    store = stores.graph()
    arguments = {**params, "workspace": int(workspace_id)}
    timeout = int(settings.STRATA_CYPHER_TIMEOUT_MS)
    isolated = store.features.joins_db_transaction
    if not isolated and not settings.STRATA_CYPHER_CONSOLE_UNISOLATED:
        raise ConsoleError(
            f"the knowledge graph is on {store.features.vendor}, which cannot isolate workspaces "
            "row by row: the console is off (set STRATA_CYPHER_CONSOLE_UNISOLATED to allow it there)"
        )
    if isolated:
        try:
            console_rls.ensure(store.graph)
        except DatabaseError as exc:
            raise ConsoleError(
                f"the console's row security could not be set up ({str(exc).strip()[:200]}): its role "
                f"{console_rls.ROLE!r} needs a database user with CREATEROLE once (see the README)"
            ) from None
    try:
        if isolated:
            rows = _run_read_only(store, query, arguments, columns, timeout, workspace_id=workspace_id)
        else:
            rows = store.cypher(query, arguments, columns=columns, read_only=True, max_rows=MAX_ROWS + 1)
    except NotSupported as exc:
        raise ConsoleError(str(exc)) from None
    except InvalidInput as exc:
        raise ConsoleError(str(exc)[:500]) from None
    except (DatabaseError, StoreUnavailable) as exc:
        message = str(exc)
        if "statement timeout" in message or "canceling statement" in message:
            raise ConsoleError(f"the query ran longer than {timeout} ms and was stopped") from None
        if "read-only" in message:
            raise ConsoleError("the console is read-only") from None
        raise ConsoleError(f"the graph store refused the query: {message[:300]}") from None
    return _result(workspace_id, columns, rows, scalars=isolated)


def _result(workspace_id: int, columns: list[str], rows: list[dict[str, Any]], *, scalars: bool) -> ConsoleResult:
    result = ConsoleResult(columns=columns)
    for row in rows:
        values = [row[c] for c in columns]
        scoped = [_scoped(workspace_id, v) for v in values]
        if not scalars and any(s is None for s in scoped):
            raise ConsoleError(
                "return nodes, edges or paths (the console shows only this workspace's); on this "
                "graph store scalar values such as counts or properties could include other workspaces"
            )
        if any(s is False for s in scoped):
            result.dropped += 1
            continue
        if len(result.rows) >= MAX_ROWS:
            result.truncated = True
            break
        result.rows.append([_show(workspace_id, v) for v in values])
    if len(rows) > MAX_ROWS:  # the store read MAX_ROWS + 1 rows at most: there may be more
        result.truncated = True
    return result


class _Rollback(Exception):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows


def _run_read_only(
    store: Any, query: str, arguments: dict[str, Any], columns: list[str], timeout: int, *, workspace_id: int
) -> Any:
    """In a READ ONLY transaction (or a savepoint, when one is open), as the console role seeing
    only ``workspace_id``'s rows; always rolled back."""
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{timeout}ms"])
            console_rls.enter(workspace_id)
            raise _Rollback(store.cypher(query, arguments, columns=columns, read_only=True, max_rows=MAX_ROWS + 1))
    except _Rollback as done:
        return done.rows
