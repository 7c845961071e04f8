"""Failed logins are throttled per username and per client address (core/login_throttle.py), in
the real Redis cache, on the login page and the admin's; the answer never tells whether an
account exists, and a successful login clears its username's count."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from tests.unreachable import closed_port

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"


def login(client, username: str, password: str, *, url: str | None = None, address: str = "10.0.0.1", **extra):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failures_lock_the_username_even_for_the_right_password(client, user):
    for _ in range(5):
        answer = login(client, "alice", "wrong")
        assert answer.status_code == 200 and "Please enter a correct username and password" in answer.content.decode()

    refused = login(client, "alice", "pw-alice-123")
    assert refused.status_code == 429
    assert "Too many failed logins. Try again in 15 minutes" in refused.content.decode()
    assert 880 <= int(refused["Retry-After"]) <= 900
    assert not logged_in(client)
    # the lock follows the username, whatever the case or the address
    assert login(client, "ALICE ", "pw-alice-123", address="10.9.9.9").status_code == 429
    # other people log in as usual from the same address
    assert login(client, "bob", "wrong").status_code == 200


def test_an_unknown_username_is_throttled_with_the_same_answer(client, user):
    for name in ("alice", "nobody-here"):
        for _ in range(5):
            login(client, name, "wrong")
    known, unknown = login(client, "alice", "x"), login(client, "nobody-here", "x")
    assert known.status_code == unknown.status_code == 429
    assert page_text(known, "alice") == page_text(unknown, "nobody-here")


def page_text(response, username: str) -> str:
    """The page without the username typed and the CSRF token (masked anew for every page)."""
    html = response.content.decode().replace(username, "NAME")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_a_successful_login_clears_the_usernames_count(client, user):
    for _ in range(4):
        login(client, "alice", "wrong")
    assert login(client, "alice", "pw-alice-123").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "alice", "wrong").status_code == 200  # a fresh count: 4 more are allowed
    assert login(client, "alice", "pw-alice-123").status_code == 302 and logged_in(client)


def test_twenty_failures_lock_the_address_for_every_username(client, user):
    for number in range(20):
        assert login(client, f"guess-{number}", "wrong", address="10.0.0.7").status_code == 200
    assert login(client, "alice", "pw-alice-123", address="10.0.0.7").status_code == 429
    assert not logged_in(client)
    assert login(client, "alice", "pw-alice-123", address="10.0.0.8").status_code == 302  # another address


def test_an_ipv6_host_counts_as_its_64(client, user):
    for number in range(20):  # one host rotating through its /64
        login(client, f"guess-{number}", "wrong", address=f"2001:db8:1:2::{number + 1:x}")
    assert login(client, "alice", "pw-alice-123", address="2001:db8:1:2:ffff::9").status_code == 429
    assert login(client, "alice", "pw-alice-123", address="2001:db8:1:3::1").status_code == 302  # another /64


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(client, user):
    for number in range(20):  # a client rotating the header it writes itself gains nothing
        login(client, f"guess-{number}", "wrong", address="10.0.0.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    refused = login(client, "alice", "pw-alice-123", address="10.0.0.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert refused.status_code == 429


@override_settings(STRATA_TRUSTED_PROXIES=1)
def test_behind_a_trusted_proxy_the_address_it_appended_counts(client, user):
    for number in range(20):  # all through one proxy (10.0.0.2), from one client: 198.51.100.5
        spoofed = f"192.0.2.{number}, 198.51.100.5"  # the left entry is the client's own
        login(client, f"guess-{number}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=spoofed)
    refused = login(client, "alice", "pw-alice-123", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert refused.status_code == 429
    other_client = login(client, "alice", "pw-alice-123", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.6")
    assert other_client.status_code == 302


def test_the_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_user(username="root", password="pw-root-123", is_staff=True, is_superuser=True)
    for _ in range(5):
        assert login(client, "root", "wrong", url=ADMIN_LOGIN).status_code == 200
    refused = login(client, "root", "pw-root-123", url=ADMIN_LOGIN)
    assert refused.status_code == 429 and "Too many failed logins" in refused.content.decode()
    assert not logged_in(client)
    # the count is the username's, whichever page the guesses came through
    assert login(client, "root", "pw-root-123").status_code == 429


def test_the_counts_live_in_redis_not_in_the_process(client, user):
    for _ in range(5):
        login(client, "alice", "wrong")
    caches["default"].close()
    del caches["default"]  # a fresh cache object and connection, as another gunicorn worker has
    assert login(client, "alice", "pw-alice-123").status_code == 429


def test_concurrent_guesses_get_no_more_password_checks_than_the_limit():
    """Twenty guesses at once (gunicorn workers, threads): each is counted in Redis before its
    password is checked, so exactly five get that far."""
    from django.test import RequestFactory

    from core import login_throttle

    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.0.0.3")
    start = threading.Barrier(20)

    def guess(_: int) -> bool:
        start.wait()
        return login_throttle.attempt(request=request, username="alice") is None

    with ThreadPoolExecutor(max_workers=20) as pool:
        checked = sum(pool.map(guess, range(20)))
    assert checked == 5
    assert login_throttle.attempt(request=request, username="alice") is not None


@override_settings(STRATA_LOGIN_THROTTLE_WINDOW=2)
def test_the_lock_ends_with_its_window(client, user):
    for _ in range(5):
        login(client, "alice", "wrong")
    assert login(client, "alice", "pw-alice-123").status_code == 429
    time.sleep(2.2)
    assert login(client, "alice", "pw-alice-123").status_code == 302


def test_with_redis_unreachable_logins_still_work(client, user, settings, caplog, monkeypatch):
    from core import login_throttle

    monkeypatch.setattr(login_throttle, "_down_until", 0.0)  # and back after the test
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    assert login(client, "alice", "wrong").status_code == 200  # a form error, not a 500
    assert login(client, "alice", "pw-alice-123").status_code == 302 and logged_in(client)
    assert caplog.text.count("login throttle: cache unreachable") == 1  # once, then not asked for 5 s
