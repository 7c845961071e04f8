"""Throttling of failed logins (the login page and the admin's), per username and per client
address, in the Django cache (Redis: shared by every gunicorn worker and host).

- Each login attempt counts once against its username (case-folded) and once against the client
  address, in fixed windows of ``STRATA_LOGIN_THROTTLE_WINDOW`` seconds that start at the first
  attempt. It is counted (Redis INCR) before its password is checked, so concurrent guesses
  cannot slip past the limit, and taken off again when it succeeds or is refused unchecked.
  Once a username has ``STRATA_LOGIN_FAILURES_PER_USERNAME`` failures, or an address
  ``STRATA_LOGIN_FAILURES_PER_ADDRESS``, every login for it is refused (HTTP 429 and a form error)
  until its window ends, without checking the password: a right guess during a lockout looks
  exactly like a wrong one.
- Unknown usernames count like real ones and get the same message, so the throttle never tells
  whether an account exists.
- A successful login clears its username's count (the address's failures run out with its
  window: one good account must not buy an address more guesses at others).
- The client address is ``REMOTE_ADDR`` (an IPv6 address counts as its /64); behind
  ``STRATA_TRUSTED_PROXIES`` proxies that each append to ``X-Forwarded-For`` it is the entry that
  many places from the right (what the outermost trusted proxy saw), never one the client wrote.
- When Redis cannot be reached the throttle lets logins through (logged as a warning, once per
  outage) and does not ask Redis again for ``RETRY_SECONDS``: a cache outage must not lock
  everybody out, nor make each login wait for a socket timeout.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from core.storage.redis_cache import UNREACHABLE

logger = logging.getLogger(__name__)

KEY_PREFIX = "core:login-failures"
RETRY_SECONDS = 5.0

_down_until = 0.0  # monotonic time until which Redis is not asked (after it was unreachable)

__all__ = [
    "Lockout",
    "ThrottledAdminAuthenticationForm",
    "ThrottledAuthenticationForm",
    "ThrottledLoginView",
    "attempt",
    "client_address",
    "mark_throttled",
    "record_success",
]


@dataclass(frozen=True)
class Lockout:
    """A refused login: how many seconds until it may be tried again."""

    retry_after: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (
            f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}"
            " (or ask an administrator to reset your password)."
        )


def client_address(request: HttpRequest) -> str:
    """The address the login came from: ``REMOTE_ADDR``, or with ``STRATA_TRUSTED_PROXIES = N``
    the N-th entry from the right of ``X-Forwarded-For`` (each trusted proxy appends the address it
    saw; entries left of those are whatever the client sent)."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    hops = int(settings.STRATA_TRUSTED_PROXIES)
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote  # not through the configured proxies: count against the peer itself
    return forwarded[-hops][:100]


def _address_group(address: str) -> str:
    """What an address counts as: itself, or for IPv6 its /64 (one host usually holds a whole
    /64, so counting single IPv6 addresses would give it 2**64 fresh counts)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _keys(*, username: str, address: str) -> tuple[str, str]:
    address = _address_group(address)
    user_digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()
    address_digest = hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{KEY_PREFIX}:user:{user_digest}", f"{KEY_PREFIX}:addr:{address_digest}"


def _limits() -> tuple[int, int]:
    return int(settings.STRATA_LOGIN_FAILURES_PER_USERNAME), int(settings.STRATA_LOGIN_FAILURES_PER_ADDRESS)


def _cache() -> Any:
    return caches["default"]


def _reachable() -> bool:
    return time.monotonic() >= _down_until


def _unreachable(exc: BaseException, what: str) -> None:
    global _down_until
    if _reachable():
        logger.warning("login throttle: cache unreachable, %s for %.0f s (%s)", what, RETRY_SECONDS, exc)
    _down_until = time.monotonic() + RETRY_SECONDS


def _retry_after(cache: Any, key: str) -> int:
    window = int(settings.STRATA_LOGIN_THROTTLE_WINDOW)
    ttl = cache.ttl(key) if hasattr(cache, "ttl") else None  # django-redis: seconds left
    return int(ttl) if isinstance(ttl, int) and 0 < ttl <= window else window


def attempt(*, request: HttpRequest, username: str) -> Lockout | None:
    """Count a login attempt against its username and address, before its password is checked;
    the lockout it runs into, if any. Counting first (Redis INCR, atomic) means that concurrent
    guesses cannot all pass a check made before any of them was counted."""
    if not _reachable():
        return None
    window = int(settings.STRATA_LOGIN_THROTTLE_WINDOW)
    user_key, address_key = _keys(username=username, address=client_address(request))
    per_user, per_address = _limits()
    cache = _cache()
    try:
        over = [
            key
            for key, limit in ((user_key, per_user), (address_key, per_address))
            if _count(cache, key, window) > limit > 0
        ]
        if not over:
            return None
        _uncount(cache, user_key, address_key)  # refused: no password was checked
        return Lockout(retry_after=max(_retry_after(cache, key) for key in over))
    except UNREACHABLE as exc:
        _unreachable(exc, "not throttling logins")
        return None


def _count(cache: Any, key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)  # the window starts at the first attempt
    try:
        return int(cache.incr(key))  # INCRBY keeps the key's expiry
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, timeout=window)
        return 1


def _uncount(cache: Any, *keys: str) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # its window ended meanwhile
            pass


def record_success(*, request: HttpRequest, username: str) -> None:
    """A successful login clears its username's count and takes itself off its address's."""
    if not _reachable():
        return
    user_key, address_key = _keys(username=username, address=client_address(request))
    cache = _cache()
    try:
        cache.delete(user_key)
        _uncount(cache, address_key)
    except UNREACHABLE as exc:
        _unreachable(exc, "not clearing failed logins")


class _ThrottledFormMixin:
    """For ``AuthenticationForm`` subclasses: count the attempt and refuse it when throttled before
    authenticating; clear the username's count after a good one."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    throttled: Lockout | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        request = self.request
        if request is None or not username:
            return super().clean()  # type: ignore[misc]
        self.throttled = attempt(request=request, username=username)
        if self.throttled is not None:
            raise ValidationError(self.throttled.message, code="throttled")
        cleaned = super().clean()  # type: ignore[misc]  (a failure stays counted)
        record_success(request=request, username=username)
        return cleaned


class ThrottledAuthenticationForm(_ThrottledFormMixin, AuthenticationForm):
    """The login page's form."""


class ThrottledAdminAuthenticationForm(_ThrottledFormMixin, AdminAuthenticationForm):
    """The admin login's form (``admin.site.login_form``)."""


class ThrottledLoginView(auth_views.LoginView):
    """``LoginView`` with the throttled form; a refused login answers 429 with ``Retry-After``."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        return mark_throttled(super().form_invalid(form), form)


def mark_throttled(response: HttpResponse, form: Any) -> HttpResponse:
    """A login page answered to a throttled form: status 429 and ``Retry-After``."""
    throttled = getattr(form, "throttled", None)
    if throttled is not None:
        response.status_code = 429
        response["Retry-After"] = str(throttled.retry_after)
    return response
