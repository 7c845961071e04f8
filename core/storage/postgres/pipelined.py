"""One read with transaction-local settings in one network round trip.

A vector search needs ``SET LOCAL``-style settings (``hnsw.ef_search``, ``enable_sort``, ...)
that apply to its own statement only, so it runs in a transaction (or, inside the caller's
transaction, a savepoint). Sent one by one that is four or five round trips (BEGIN, the
settings, the query, COMMIT); here they go out together in psycopg's pipeline mode and come
back after one sync.

The statement is sent with server-side binding, so parameters may be binary (a query vector as
pgvector's binary format instead of a 1536-number text literal that PostgreSQL parses), and
never as a prepared statement (``prepare=False``): an unnamed statement is planned with its
actual parameter values, so the planner can never switch a vector query to a generic plan (a
sequential scan and a sort).

Inside the caller's ``transaction.atomic()`` the statements run in a savepoint that is rolled
back to and released afterwards: the query only reads, and rolling back to the savepoint also
undoes the transaction-local settings made after it (PostgreSQL's settings are
subtransaction-aware), so they never outlive the query, even inside a long outer transaction;
an error leaves the caller's transaction usable too.

Django's query log (``connection.queries``, ``CaptureQueriesContext``) gets the statement with
its parameters rendered as literals, as Django's own debug cursor would log it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connections
from psycopg import sql

_SAVEPOINT = "strata_pipelined"


def fetch_with_settings(
    using: str, *, settings: Sequence[tuple[str, str]], query: str, params: Sequence[Any], logged_query: str
) -> list[tuple[Any, ...]]:
    """Rows of the read-only ``query`` run with ``settings`` (name, value) set for it alone
    (transaction-local, undone afterwards), all in one round trip. ``logged_query`` is ``query``
    with ``%s`` placeholders only (for the query log). Errors are Django's database errors, as from a Django cursor."""
    wrapper = connections[using]
    wrapper.ensure_connection()
    wrapper.validate_no_broken_transaction()
    raw: psycopg.Connection = wrapper.connection
    in_transaction = not wrapper.get_autocommit()  # the caller's transaction (atomic or not)
    begin, end, undo = (
        (f"SAVEPOINT {_SAVEPOINT}", f"RELEASE SAVEPOINT {_SAVEPOINT}", f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        if in_transaction
        else ("BEGIN", "COMMIT", "ROLLBACK")
    )
    # A read: roll back to our savepoint (undoing the settings) before releasing it.
    ends = [undo, end] if in_transaction else [end]
    set_config = sql.SQL("SELECT {}").format(sql.SQL(", ").join(sql.SQL("set_config(%s, %s, true)") for _ in settings))
    setting_params = [part for pair in settings for part in pair]
    started = time.monotonic()
    with wrapper.wrap_database_errors:
        control, reader = psycopg.Cursor(raw), psycopg.Cursor(raw)
        try:
            with raw.pipeline():
                control.execute(begin, prepare=False)
                if settings:
                    control.execute(set_config, setting_params, prepare=False)
                reader.execute(query, params, prepare=False)
                for statement in ends:
                    control.execute(statement, prepare=False)
            rows = reader.fetchall()
        except psycopg.Error:
            _recover(raw, undo=undo, end=end if in_transaction else None)
            raise
        finally:
            control.close()
            reader.close()
    if wrapper.queries_logged:
        _log(wrapper, logged_query, params, time.monotonic() - started)
    return rows


def _recover(raw: psycopg.Connection, *, undo: str, end: str | None) -> None:
    """Undo a failed pipeline: roll back our transaction, or back to our savepoint (leaving the
    caller's transaction as it was before the call)."""
    if raw.closed or raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    try:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(undo, prepare=False)
            if end is not None:
                cursor.execute(end, prepare=False)
    except psycopg.Error:
        pass  # the connection is gone; Django notices on its next use


def _log(wrapper: Any, query: str, params: Sequence[Any], seconds: float) -> None:
    with psycopg.ClientCursor(wrapper.connection) as cursor:
        rendered = cursor.mogrify(query, [_as_literal(value) for value in params])
    wrapper.queries_log.append({"sql": rendered, "time": f"{seconds:.3f}"})


def _as_literal(value: Any) -> Any:
    """Vectors (numpy arrays) as pgvector's text form; everything else as it is."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and getattr(value, "ndim", 0) == 1:
        return "[" + ",".join(map(repr, tolist())) + "]"
    return value
