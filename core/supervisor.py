"""Run child processes with their output prefixed by their names (``web | ...``), print a banner
once every child said it is ready and the web server answers an HTTP request, and stop them all
when asked (SIGINT/SIGTERM) or when one exits on its own: SIGTERM first, SIGKILL after a grace
period, then whatever is left in each child's process group. ``manage.py strata_run`` runs web,
worker and beat under it."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from django.core.management.base import OutputWrapper

STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.2
#: The banner waits this long at most for the children to say they are ready.
READY_TIMEOUT_SECONDS = 60.0
#: The page the banner waits for: it answers once a web process has loaded Django.
READY_PATH = "/healthz"


@dataclass
class Child:
    name: str
    argv: list[str]
    #: A line of the child's output that says it is ready (None: ready once started).
    ready_pattern: str | None = None
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)
    ready: threading.Event = field(default_factory=threading.Event, repr=False)
    stopping: bool = False
    reported: bool = False


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if strata_run itself is killed (e.g. SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Runs children until asked to stop or until one of them exits; then stops the rest."""

    def __init__(
        self,
        children: list[Child],
        out: OutputWrapper,
        *,
        env: dict[str, str],
        cwd: str,
        web_addr: tuple[str, int] | None = None,
        banner: str = "",
    ) -> None:
        self.children = children
        self.out = out
        self.env = env
        self.cwd = cwd
        self.web_addr = web_addr
        self.banner = banner
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._signal: int | None = None
        self.width = max(len(child.name) for child in children)

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{name:<{self.width}} | {line}")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[str]) -> None:
        pattern = re.compile(child.ready_pattern) if child.ready_pattern else None
        for line in stream:
            self.say(child.name, line.rstrip("\n"))
            if pattern is not None and not child.ready.is_set() and pattern.search(line):
                child.ready.set()

    def _web_answers(self, timeout: float) -> bool:
        """Whether the web server answers an HTTP request (any status) within ``timeout``.

        Not just a connection: gunicorn's master accepts connections as soon as it has bound the
        port, while its workers are still importing Django (seconds under load), so a connection
        alone would let the banner promise a site that does not answer yet."""
        if self.web_addr is None:
            return True
        host, port = self.web_addr
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", READY_PATH)
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _announce(self) -> None:
        """Print the banner last: once every child said it is ready and the web server answers a
        request (a web process has loaded Django and reached the database)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if all(child.ready.is_set() for child in self.children) and self._web_answers(timeout=min(left, 10.0)):
                break
            time.sleep(POLL_SECONDS)
        if self._stop.is_set() or not self.banner:
            return
        time.sleep(0.5)  # let the children's start-up lines that follow "ready" come out first
        with self._lock:
            if not self._stop.is_set():
                self.out.write(self.banner)
                self.out.flush()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Return 0 after a requested stop, 1 when a child exited on its own."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed: Child | None = None
        try:
            for child in self.children:
                # Own process group: a terminal's Ctrl-C reaches only us, and we stop the children in order.
                child.process = subprocess.Popen(
                    child.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                    env=self.env,
                    cwd=self.cwd,
                    process_group=0,
                    preexec_fn=_die_with_parent,
                )
            # Readers start after every fork (preexec_fn and threads do not mix).
            for child in self.children:
                assert child.process is not None and child.process.stdout is not None
                self.say(child.name, f"started (pid {child.process.pid}): {' '.join(child.argv[1:])}")
                if child.ready_pattern is None:
                    child.ready.set()
                child.reader = threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True)
                child.reader.start()
            threading.Thread(target=self._announce, daemon=True).start()
            while failed is None and not self._stop.wait(POLL_SECONDS):
                failed = next((c for c in self.children if c.process and c.process.poll() is not None), None)
        finally:
            self._stop.set()
            if failed is not None:
                self.say(failed.name, f"{_ending(failed)}; stopping the others")
                failed.reported = True
            elif self._signal is not None:
                what = "Ctrl-C" if self._signal == signal.SIGINT else signal.Signals(self._signal).name
                self.say("strata", f"{what} received; stopping {', '.join(c.name for c in self.children)}")
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed is not None else 0

    def stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.stopping = True
            child.process.terminate()  # the main process only: a Celery worker stops its own pool
        for child in running:
            try:
                child.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say(child.name, f"did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it")
        for child in self.children:
            if child.process is None:
                continue
            try:  # anything left in the child's process group (e.g. pool processes) goes too
                os.killpg(child.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=5)
            if not child.reported:
                self.say(child.name, _ending(child))


def _ending(child: Child) -> str:
    """How a child ended, in words: a stop we asked for is not an error."""
    code = child.process.returncode if child.process is not None else None
    if child.stopping and code in (0, -signal.SIGTERM):
        return "stopped"
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"
