"""Stop the embedded PostgreSQL and Redis (the servers under ``STRATA_DATA_DIR``).

    STRATA_EMBEDDED_AUTOSTART=0 manage.py strata_stop

Loading the settings starts the embedded Redis when autostart is on, so run this command
with ``STRATA_EMBEDDED_AUTOSTART=0`` (``./strata stop`` does) or it may first start the
Redis it is about to stop. The command itself never opens a database connection.
Servers named by ``DATABASE_URL`` / ``REDIS_URL`` are not Strata's to stop and are left alone,
and so is a Redis on the embedded port that was not started from this data directory.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from django.core.management.base import BaseCommand

from core import embedded


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class Command(BaseCommand):
    help = "Stop the embedded PostgreSQL and Redis. Run with STRATA_EMBEDDED_AUTOSTART=0 (./strata stop does)."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        where, pgdata, port = embedded.data_dir(), embedded.pg_data_dir(), embedded.redis_port()
        if os.environ.get("DATABASE_URL"):
            self.stdout.write("PostgreSQL: DATABASE_URL is set; there is no embedded server to stop.")
        elif embedded.stop_postgres():
            self.stdout.write(self.style.SUCCESS(f"PostgreSQL: stopped the embedded server ({pgdata})."))
        else:
            self.stdout.write(f"PostgreSQL: the embedded server was not running ({pgdata}).")

        if os.environ.get("REDIS_URL"):
            self.stdout.write("Redis: REDIS_URL is set; there is no embedded server to stop.")
        elif embedded.stop_redis():
            self.stdout.write(self.style.SUCCESS(f"Redis: stopped the embedded server (port {port}, {where})."))
        elif _redis_answers(embedded.redis_url()):
            self.stdout.write(
                self.style.WARNING(
                    f"Redis: a server answers on port {port} but was not started from {where}; left running."
                )
            )
        else:
            self.stdout.write(f"Redis: the embedded server was not running (port {port}, {where}).")
