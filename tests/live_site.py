"""The site served for real in a test: gunicorn (as `strata run` serves it) on the test
database, and a small browser (cookies, CSRF, forms, file uploads) over urllib."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.redis_server import free_port


class Gunicorn:
    """``gunicorn core.wsgi`` on a free port, with the test settings and database."""

    def __init__(self, log: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        server_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "STRATA_DB_NAME": settings.DATABASES["default"]["NAME"],
            "STRATA_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "core.wsgi:application",
                    *("--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--timeout", "120"),
                ],
                cwd=settings.BASE_DIR,
                env=server_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{self.output()}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=30)


@dataclass
class Page:
    status: int
    url: str
    text: str


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def _open(self, request: urllib.request.Request, timeout: float) -> Page:
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return Page(response.status, response.url, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.url, exc.read().decode("utf-8", "replace"))

    def get(self, path: str, params: dict[str, str] | None = None, *, timeout: float = 30) -> Page:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._open(urllib.request.Request(self.base + path + query), timeout)

    def csrf(self) -> str:
        token = next((c.value for c in self.cookies if c.name == "csrftoken"), None)
        if token is None:
            page = self.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return token

    def post(self, path: str, fields: dict[str, str], *, timeout: float = 30) -> Page:
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + path})
        return self._open(request, timeout)

    def upload(self, path: str, files: dict[str, bytes], fields: dict[str, str] | None = None, *, timeout=120) -> Page:
        """POST multipart/form-data: every file under the field name ``files``."""
        boundary = uuid.uuid4().hex
        parts: list[bytes] = []
        for name, value in {**(fields or {}), "csrfmiddlewaretoken": self.csrf()}.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for filename, content in files.items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            parts.append(head.encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Referer": self.base + path},
        )
        return self._open(request, timeout)

    def log_in(self, username: str, password: str) -> Page:
        page = self.post("/accounts/login/", {"username": username, "password": password, "next": "/"})
        assert page.status == 200 and page.url == f"{self.base}/", f"login failed: {page.status} {page.url}"
        return page
