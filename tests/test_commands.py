"""strata_status and strata_stop.

strata_stop runs in subprocesses against a SEPARATE embedded PostgreSQL and Redis (their own
STRATA_DATA_DIR), never against the servers the test run shares. strata_run is in
test_strata_run.py, the separation of data dirs in test_embedded.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.embedded.postgres import postgres_socket_dir
from core.embedded.redis import redis_dir, redis_running
from core.management.commands.strata_status import version_tuple
from core.models import OutboxEvent
from tests.instances import START_SERVERS, Instance, gone, make_instance


@pytest.fixture
def separate_instance() -> Iterator[Instance]:
    yield from make_instance()


# ---------------------------------------------------------------- strata_status


def _installed_versions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('vector', 'age')")
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_status_reports_real_versions():
    out = StringIO()
    call_command("strata_status", stdout=out)
    text = out.getvalue()

    versions = _installed_versions()
    assert versions["vector"].startswith("0.8.")
    assert versions["age"].startswith("1.7.")
    assert re.search(r"^PostgreSQL\s+ok\s+\d+\.\d+", text, re.M)
    assert re.search(rf"^\s+vector\s+{re.escape(versions['vector'])}$", text, re.M)
    assert re.search(rf"^\s+age\s+{re.escape(versions['age'])}$", text, re.M)
    assert re.search(r"^\s+graph\s+strata: present$", text, re.M)
    assert re.search(r"^Redis\s+ok\s+\d+\.\d+\.\d+\s+unix://\S+/redis\.sock", text, re.M)
    if version_tuple(versions["vector"]) < (0, 8, 2):
        # the embedded 0.8.1: a note that says it is mitigated, not an alarm
        assert re.search(r"^\s+note\s+pgvector 0\.8\.1 has CVE-2026-3172 .*; mitigated: ", text, re.M)
        assert "WARNING" not in text
    else:
        assert "CVE-2026-3172" not in text
    assert re.search(r"^Outbox\s+0 pending, 0 dead", text, re.M)


@pytest.mark.django_db
def test_status_json_is_machine_readable():
    now = timezone.now()
    OutboxEvent.objects.create(event_type="test.waiting", available_at=now)
    OutboxEvent.objects.create(event_type="test.dead", status=OutboxEvent.Status.DEAD, available_at=now)
    out = StringIO()

    call_command("strata_status", "--json", stdout=out)
    report = json.loads(out.getvalue())

    versions = _installed_versions()
    pg = report["postgres"]
    assert pg["reachable"] is True
    assert pg["server_version"].split(".")[0].isdigit()
    assert pg["database"] == connection.settings_dict["NAME"]
    assert pg["extensions"] == {"vector": versions["vector"], "age": versions["age"]}
    assert pg["extensions"]["vector"].startswith("0.8.") and pg["extensions"]["age"].startswith("1.7.")
    assert pg["graph"] == {"name": "strata", "exists": True}
    vulnerable = version_tuple(versions["vector"]) < (0, 8, 2)
    assert any("CVE-2026-3172" in note and "mitigated" in note for note in pg["notes"]) == vulnerable
    assert pg["warnings"] == []
    assert report["redis"]["reachable"] is True
    assert report["redis"]["data_dir"] == str(redis_dir())
    assert re.fullmatch(r"\d+\.\d+\.\d+", report["redis"]["version"])
    assert isinstance(report["celery"]["workers"], list)
    assert (report["outbox"]["pending"], report["outbox"]["dead"]) == (1, 1)
    assert report["ok"] is True


def test_status_redacts_redis_password():
    from core.management.commands.strata_status import maybe_sanitize_url

    assert "s3cret" not in maybe_sanitize_url("redis://:s3cret@redis.example:6379/0")


def test_status_exits_non_zero_when_postgres_and_redis_are_unreachable(separate_instance):
    # nothing runs in the new data dir, and autostart is off: both are down
    result = separate_instance.manage("strata_status", "--json", STRATA_EMBEDDED_AUTOSTART="0")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["postgres"]["reachable"] is False and report["postgres"]["error"]
    assert report["redis"]["reachable"] is False and report["redis"]["error"]
    assert report["ok"] is False
    assert "unreachable: postgres, redis" in result.stderr
    # ... and looking did not start anything
    assert separate_instance.postgres_pid() is None and not separate_instance.redis_answers()

    text = separate_instance.manage("strata_status", STRATA_EMBEDDED_AUTOSTART="0").stdout
    assert text.count("the embedded server is not running; ./strata run starts it") == 2


# ---------------------------------------------------------------- strata_stop


def test_stop_stops_a_separate_embedded_instance(separate_instance):
    started = separate_instance.python(START_SERVERS)
    assert started.returncode == 0, started.stderr
    pg_pid, redis_pid = separate_instance.postgres_pid(), separate_instance.redis_pid()
    assert pg_pid and redis_pid and not gone(pg_pid) and not gone(redis_pid)
    assert separate_instance.redis_answers()

    result = separate_instance.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")

    assert result.returncode == 0, result.stderr
    assert "PostgreSQL: stopped the embedded server" in result.stdout
    assert "Redis: stopped the embedded server" in result.stdout
    assert gone(pg_pid) and gone(redis_pid)
    assert not (separate_instance.data_dir / "pgdata" / "postmaster.pid").exists()
    assert not separate_instance.redis_answers()
    # the shared servers are untouched
    assert postgres_socket_dir() is not None or os.environ.get("DATABASE_URL")
    assert redis_running() or os.environ.get("REDIS_URL")

    again = separate_instance.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")
    assert again.returncode == 0
    assert "PostgreSQL: the embedded server was not running" in again.stdout
    assert "Redis: the embedded server was not running" in again.stdout


def test_stop_leaves_external_servers_alone(separate_instance):
    result = separate_instance.manage(
        "strata_stop",
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing",
        REDIS_URL="redis://127.0.0.1:9/0",
        DJANGO_SECRET_KEY="test-only",
    )
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL: DATABASE_URL is set; there is no embedded server to stop." in result.stdout
    assert "Redis: REDIS_URL is set; there is no embedded server to stop." in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "١٢", "9" * 30, "", "  "])
def test_workspace_argument_refuses_what_is_no_workspace_id(value):
    # "²".isdigit() is true but int("²") fails; ids beyond bigint; blank: all a CommandError, no traceback
    from django.core.management.base import CommandError

    from core.management.arguments import workspace_argument

    with pytest.raises(CommandError, match="unknown workspace"):
        workspace_argument(value)
