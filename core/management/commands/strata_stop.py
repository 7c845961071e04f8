"""Stop the embedded PostgreSQL, Redis and FalkorDB (the servers of ``STRATA_DATA_DIR``).

    STRATA_EMBEDDED_AUTOSTART=0 manage.py strata_stop      (what ``./strata stop`` runs)

Loading the settings starts the embedded Redis when autostart is on, so run this command
with ``STRATA_EMBEDDED_AUTOSTART=0`` (``./strata stop`` does) or it may first start the
Redis it is about to stop. The command itself never opens a database connection.
Servers named by ``DATABASE_URL`` / ``REDIS_URL`` are not Strata's to stop and are left alone.
Each data dir's servers listen on sockets inside it, so only this data dir's servers are stopped.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from core import embedded
from core.embedded.falkordb import falkordb_dir, stop_falkordb
from core.embedded.postgres import pg_data_dir, stop_postgres
from core.embedded.redis import stop_redis


class Command(BaseCommand):
    help = (
        "Stop the embedded PostgreSQL, Redis and FalkorDB. Run with STRATA_EMBEDDED_AUTOSTART=0 (./strata stop does)."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        pgdata, where = pg_data_dir(), embedded.data_dir()
        if os.environ.get("DATABASE_URL"):
            self.stdout.write("PostgreSQL: DATABASE_URL is set; there is no embedded server to stop.")
        elif stop_postgres():
            self.stdout.write(self.style.SUCCESS(f"PostgreSQL: stopped the embedded server ({pgdata})."))
        else:
            self.stdout.write(f"PostgreSQL: the embedded server was not running ({pgdata}).")

        if os.environ.get("REDIS_URL"):
            self.stdout.write("Redis: REDIS_URL is set; there is no embedded server to stop.")
        elif stop_redis():
            self.stdout.write(self.style.SUCCESS(f"Redis: stopped the embedded server ({where})."))
        else:
            self.stdout.write(f"Redis: the embedded server was not running ({where}).")

        if stop_falkordb():  # started only when a FalkorDB graph store without a URL was used
            self.stdout.write(self.style.SUCCESS(f"FalkorDB: stopped the embedded server ({falkordb_dir()})."))
