"""PostgreSQL backend that makes every connection ready for Apache AGE.

On each new connection it runs ``LOAD 'age'`` and puts ``ag_catalog`` on the search path
(after ``public``, so Django's tables are still created in ``public``), except on a database
configured with ``OPTIONS["strata_age"] = False`` (the dedicated documents database). Callers never do
this themselves. When the database is the embedded one (no ``DATABASE_URL``) it also starts
the embedded server on first use and creates the database if it is missing.
"""

from __future__ import annotations

import os

import psycopg
from django.db.backends.postgresql import base
from psycopg import sql

from core import embedded
from core.embedded.postgres import ensure_postgres, postgres_socket_dir

AGE_SEARCH_PATH = '"$user", public, ag_catalog'


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        if self.settings_dict.get("OPTIONS", {}).get("strata_embedded"):
            self._prepare_embedded()
        params = super().get_connection_params()
        params.pop("strata_embedded", None)
        params.pop("strata_age", None)
        return params

    @property
    def _loads_age(self) -> bool:
        """False for a database that holds no graph (OPTIONS ``strata_age: False``)."""
        return self.settings_dict.get("OPTIONS", {}).get("strata_age", True) is not False

    def _prepare_embedded(self) -> None:
        # Reading postmaster.pid is cheap; starting (pgserver's file lock, initdb) happens only
        # when the server is not running.
        socket_dir = postgres_socket_dir()
        if socket_dir is None:
            if not embedded.autostart_enabled():
                return
            socket_dir = ensure_postgres()
        self.settings_dict["HOST"] = socket_dir
        name = self.settings_dict["NAME"]
        if name and not getattr(self, "_strata_db_checked", False):
            with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
                if not exists and not name.startswith("test_"):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self._strata_db_checked = True

    def _configure_connection(self, connection) -> bool:
        super()._configure_connection(connection)
        if not self._loads_age:
            return True
        with connection.cursor() as cursor:
            if os.environ.get("STRATA_AGE_LOAD", "1") not in {"0", "false", "no"}:
                # Needs superuser unless the server preloads AGE (session_preload_libraries).
                cursor.execute("LOAD 'age'")
            cursor.execute(f"SET search_path = {AGE_SEARCH_PATH}")
        return True
