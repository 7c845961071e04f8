"""Login throttling (core/login_throttle.py) and the Content-Security-Policy (django-csp)."""

from __future__ import annotations

from csp.constants import NONE, SELF

from core.settings.env import env_bool, env_int, env_list

# ------------------------------------------------------------------ failed logins
# Per username and per client address, in fixed windows of STRATA_LOGIN_THROTTLE_WINDOW seconds
# (0 turns a limit off). The counts live in the Django cache (Redis), shared by every worker.
STRATA_LOGIN_FAILURES_PER_USERNAME = env_int("STRATA_LOGIN_FAILURES_PER_USERNAME", 5)
STRATA_LOGIN_FAILURES_PER_ADDRESS = env_int("STRATA_LOGIN_FAILURES_PER_ADDRESS", 20)
STRATA_LOGIN_THROTTLE_WINDOW = env_int("STRATA_LOGIN_THROTTLE_WINDOW", 15 * 60)
# How many proxies in front of the site append the client's address to X-Forwarded-For; 0: the
# client address is REMOTE_ADDR and X-Forwarded-For is ignored.
STRATA_TRUSTED_PROXIES = env_int("STRATA_TRUSTED_PROXIES", 0)

# ------------------------------------------------------------------ Content-Security-Policy
# Everything from the site itself; no inline script or style (the pages' scripts and styles are
# static files), no plugins, no framing. STRATA_CSP_FRAME_ANCESTORS lets named origins frame the
# pages (and then no X-Frame-Options is sent: core/settings/base.py); STRATA_CSP_REPORT_ONLY
# sends the policy as Content-Security-Policy-Report-Only (violations reported, nothing blocked).
_frame_ancestors = env_list("STRATA_CSP_FRAME_ANCESTORS", [])
_policy = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": _frame_ancestors or [NONE],
    }
}
if env_bool("STRATA_CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _policy
else:
    CONTENT_SECURITY_POLICY = _policy
