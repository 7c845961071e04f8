"""strata_run in a subprocess against a SEPARATE embedded PostgreSQL and Redis (its own data dir):
the start-up banner, the generated password kept until the first login, quiet idle logs, and
stopping everything on SIGTERM or when a child dies."""

from __future__ import annotations

import http.server
import io
import os
import re
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator

import psutil
import pytest
from celery import Celery
from django.core.management.base import OutputWrapper

from core import initial_password
from tests.instances import Instance, Run, gone, log_in, make_instance, port_open, processes_in_groups, wait_for


@pytest.fixture(scope="module")
def run_instance() -> Iterator[Instance]:
    """Shared by the strata_run tests so the new cluster is created and migrated once."""
    for instance in make_instance():
        instance.env["STRATA_OUTBOX_RELAY_INTERVAL"] = "1"  # beat relays every second
        yield instance


def worker_pings(instance: Instance) -> list[dict]:
    app = Celery("strata-test-ping", broker=instance.broker_url, set_as_current=False)
    try:
        return app.control.ping(timeout=1.0) or []
    finally:
        app.close()


@pytest.mark.worker
def test_strata_run_starts_everything_shows_a_banner_and_stops_on_sigterm(run_instance):
    run = Run(run_instance)
    try:
        run.wait_until_up(children={"web", "worker", "beat"})
        wait_for(lambda: bool(worker_pings(run_instance)), "the Celery worker to answer a ping")

        # the banner comes last, after the children's start-up lines, and says all a person needs
        banner = run.banner()
        after = run.output.split(banner, 1)[1].splitlines()[2:]  # past the closing rule
        assert all(re.match(r'^web\s+\| .*"GET ', line) for line in after), f"printed after the banner: {after}"
        assert f"Strata is running at {run.base}/   (admin: {run.base}/admin/)" in banner
        password = re.search(r'Log in as "admin" with the password  (\S+)', banner).group(1)
        kept = run_instance.data_dir / "initial-password-admin"
        assert f"(kept in {kept} until the first login)" in banner
        assert "Forgot the password? ./strata manage changepassword admin" in banner
        assert "Ctrl-C stops web, worker and beat; ./strata stop then stops PostgreSQL and Redis." in banner
        assert 'Created superuser "admin" with a generated password' in run.output
        # the password is in a file only its owner can read, until the first login
        assert kept.read_text().strip() == password
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600

        # idle: beat runs the outbox relay every second here, and that logs nothing
        lines_before = len(run.lines)
        time.sleep(3.5)
        idle_lines = run.lines[lines_before:]
        assert idle_lines == [], idle_lines

        home = log_in(run, "admin", password)
        assert home is not None and "<h1>Default workspace</h1>" in home
        assert not kept.exists(), "the first login deletes the kept password"
        assert run.status("/healthz") == 200
        # served by gunicorn with 2 x cores + 1 worker processes; static files by WhiteNoise
        assert re.search(r"^web\s+\| started \(pid \d+\): -m gunicorn core.wsgi:application", run.output, re.M)
        web = psutil.Process(run.child_pids()["web"])
        assert len(web.children()) == 2 * len(os.sched_getaffinity(0)) + 1
        assert run.status("/static/admin/css/base.css") == 200
        # gunicornc's control socket is this data dir's own, not ~/.gunicorn/gunicorn.ctl shared by all
        assert (run_instance.data_dir / "run" / "gunicorn.ctl").is_socket()

        children = run.child_pids()
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=45) == 0, run.output
    finally:
        run.kill_leftovers()

    assert all(gone(pid) for pid in children.values()), run.output
    assert processes_in_groups(set(children.values())) == []  # the worker's pool processes too
    assert not port_open(run.port)
    assert "SIGTERM received; stopping web, worker, beat" in run.output
    for name in ("web", "worker", "beat"):
        assert re.search(rf"^{name}\s+\| stopped$", run.output, re.M), run.output  # no "status -15"
    assert run.lines[-1] == (
        "The embedded PostgreSQL and Redis keep running, so the next start is quick; ./strata stop stops them."
    )

    # a second start: the superuser exists and its password is no longer kept anywhere
    again = Run(run_instance, "--no-worker", "--no-beat", "--no-migrate")
    try:
        again.wait_until_up(children={"web"})
        banner = again.banner()
        assert 'Log in as "admin".' in banner and password not in again.output
        assert "Forgot the password? ./strata manage changepassword admin" in banner
    finally:
        again.process.send_signal(signal.SIGINT)
        assert again.process.wait(timeout=45) == 0, again.output
        again.kill_leftovers()
    assert "Ctrl-C received; stopping web" in again.output


@pytest.mark.worker
def test_strata_run_stops_everything_when_a_child_dies(run_instance):
    run = Run(run_instance, "--no-beat")
    try:
        run.wait_until_up(children={"web", "worker"})
        children = run.child_pids()

        os.kill(children["web"], signal.SIGKILL)
        assert run.process.wait(timeout=45) == 1, run.output
    finally:
        run.kill_leftovers()

    assert "web    | killed by SIGKILL; stopping the others" in run.output
    assert re.search(r"^worker \| stopped$", run.output, re.M), run.output
    assert all(gone(pid) for pid in children.values())
    assert processes_in_groups(set(children.values())) == []


def test_strata_run_dev_serves_with_the_development_server(run_instance):
    run = Run(run_instance, "--dev", "--no-worker", "--no-beat", "--no-migrate")
    try:
        run.wait_until_up(children={"web"})
        assert re.search(r"^web\s+\| started \(pid \d+\): \S*manage\.py runserver --noreload", run.output, re.M)
        assert run.status("/healthz") == 200
        assert run.status("/static/admin/css/base.css") == 200
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=45) == 0, run.output
    finally:
        run.kill_leftovers()


@pytest.mark.django_db
def test_the_kept_password_goes_at_first_login_or_when_changed(monkeypatch, tmp_path, client, django_user_model):
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path))
    user = django_user_model.objects.create_superuser(username="carol", password="first-one-123")
    kept = initial_password.remember(username="carol", password="first-one-123")
    assert kept == tmp_path / "initial-password-carol" and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert initial_password.recall(user=user) == "first-one-123"

    # changed with `./strata manage changepassword carol` before the first login: the file is stale
    user.set_password("changed-456")
    user.save()
    assert initial_password.recall(user=user) is None
    assert not kept.exists()

    # the first login deletes it
    initial_password.remember(username="carol", password="changed-456")
    client.post("/accounts/login/", {"username": "carol", "password": "wrong"})
    assert kept.exists(), "a failed login keeps it"
    response = client.post("/accounts/login/", {"username": "carol", "password": "changed-456"})
    assert response.status_code == 302
    assert not kept.exists()


def test_the_banner_waits_for_an_http_answer_not_just_a_connection():
    """gunicorn's master accepts connections once it has bound the port, while its workers are still
    importing Django (seconds on a loaded machine): a connection is not readiness, an answer is."""
    from core.supervisor import Child, Supervisor

    def supervisor(port: int) -> Supervisor:
        return Supervisor(
            [Child("web", [])], OutputWrapper(io.StringIO()), env={}, cwd=".", web_addr=("127.0.0.1", port)
        )

    with socket.socket() as bound:  # listening, so connections succeed, but nothing ever answers
        bound.bind(("127.0.0.1", 0))
        bound.listen(8)
        assert port_open(bound.getsockname()[1])
        assert supervisor(bound.getsockname()[1])._web_answers(timeout=0.5) is False

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert supervisor(server.server_address[1])._web_answers(timeout=5) is True
    finally:
        server.shutdown()
        server.server_close()
