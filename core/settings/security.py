"""Login throttling (core/login_throttle.py)."""

from __future__ import annotations

from core.settings.env import env_int

# ------------------------------------------------------------------ failed logins
# Per username and per client address, in fixed windows of STRATA_LOGIN_THROTTLE_WINDOW seconds
# (0 turns a limit off). The counts live in the Django cache (Redis), shared by every worker.
STRATA_LOGIN_FAILURES_PER_USERNAME = env_int("STRATA_LOGIN_FAILURES_PER_USERNAME", 5)
STRATA_LOGIN_FAILURES_PER_ADDRESS = env_int("STRATA_LOGIN_FAILURES_PER_ADDRESS", 20)
STRATA_LOGIN_THROTTLE_WINDOW = env_int("STRATA_LOGIN_THROTTLE_WINDOW", 15 * 60)
# How many proxies in front of the site append the client's address to X-Forwarded-For; 0: the
# client address is REMOTE_ADDR and X-Forwarded-For is ignored.
STRATA_TRUSTED_PROXIES = env_int("STRATA_TRUSTED_PROXIES", 0)
