"""Production settings: with the HTTPS variables the README names, Django's deployment check is
clean; every response carries the security headers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRATA_", "DATABASE_", "REDIS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="core.settings",
        DATABASE_URL="postgres://strata:x@127.0.0.1:9/strata",  # never connected to
        REDIS_URL="redis://127.0.0.1:9/0",
        STRATA_EMBEDDED_AUTOSTART="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        **extra,
    )
    return env


def deploy_check(**extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT, env=production_env(**extra), capture_output=True, text=True, timeout=120)


def test_the_deployment_check_is_clean_with_the_https_settings():
    https = {"DJANGO_SECURE_COOKIES": "1", "DJANGO_SSL_REDIRECT": "1", "DJANGO_HSTS_SECONDS": "31536000"}
    https.update(DJANGO_HSTS_INCLUDE_SUBDOMAINS="1", DJANGO_HSTS_PRELOAD="1")
    done = deploy_check(**https)
    assert done.returncode == 0, done.stderr + done.stdout
    plain = deploy_check()
    assert plain.returncode == 1 and "security.W012" in plain.stderr + plain.stdout  # cookies not secure
    # pages framed by a named origin: CSP frame-ancestors instead of X-Frame-Options, still clean
    framed = deploy_check(**https, STRATA_CSP_FRAME_ANCESTORS="https://intranet.example")
    assert framed.returncode == 0, framed.stderr + framed.stdout


def test_the_policy_can_be_relaxed_for_framing_and_run_report_only():
    script = (
        "import django; django.setup(); from django.conf import settings; from csp.utils import build_policy; "
        "policy = getattr(settings, 'CONTENT_SECURITY_POLICY', None) or settings.CONTENT_SECURITY_POLICY_REPORT_ONLY; "
        "print(build_policy(config=policy['DIRECTIVES'])); print(hasattr(settings, 'CONTENT_SECURITY_POLICY')); "
        "print('django.middleware.clickjacking.XFrameOptionsMiddleware' in settings.MIDDLEWARE)"
    )

    def policy(**extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=production_env(**extra), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    header, enforced, frame_options = policy()
    assert "frame-ancestors 'none'" in header and enforced == "True" and frame_options == "True"
    header, enforced, frame_options = policy(STRATA_CSP_FRAME_ANCESTORS="'self',https://intranet.example")
    assert "frame-ancestors 'self' https://intranet.example" in header and frame_options == "False"
    header, enforced, frame_options = policy(STRATA_CSP_REPORT_ONLY="1")
    assert "script-src 'self'" in header and enforced == "False"


@pytest.mark.django_db
def test_responses_carry_the_security_headers(client, user):
    for page in (client.get(reverse("login")), client.get(reverse("healthz"))):
        assert page["X-Frame-Options"] == "DENY"
        assert page["X-Content-Type-Options"] == "nosniff"
        assert page["Referrer-Policy"] == "same-origin"
        assert page["Cross-Origin-Opener-Policy"] == "same-origin"


CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_content_security_policy(client, user, workspace):
    client.force_login(user)
    pages = [client.get(reverse("login")), client.get(reverse("healthz")), client.get("/admin/")]
    pages += [client.get(reverse("home")), client.get("/no/such/page/")]
    for page in pages:
        directives = csp_directives(page["Content-Security-Policy"])
        assert {name: directives.get(name) for name in CSP} == CSP, page.request["PATH_INFO"]
        assert "unsafe-inline" not in page["Content-Security-Policy"]
        assert "unsafe-eval" not in page["Content-Security-Policy"]


OFF_SITE = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"]


@pytest.mark.django_db
@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(client, user, target):
    answer = client.post(reverse("login") + f"?next={target}", {"username": "alice", "password": "pw-alice-123"})
    assert answer.status_code == 302 and answer["Location"] == reverse("home")
    out = client.post(reverse("logout") + f"?next={target}")
    assert out.status_code == 302 and "evil" not in out["Location"] and "javascript" not in out["Location"]
