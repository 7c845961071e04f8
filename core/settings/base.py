"""The Django project: secret key and hosts, apps, middleware, templates, accounts, static files
(WhiteNoise), cookies and logging."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from core import embedded
from core.settings.env import env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or not os.environ.get("DATABASE_URL"):
        # Local embedded mode: a per-checkout key kept next to the embedded data, never committed.
        _key_file = embedded.data_dir() / "secret_key"
        if not _key_file.exists():
            import secrets

            _key_file.parent.mkdir(parents=True, exist_ok=True)
            _key_file.write_text(secrets.token_urlsafe(50))
            _key_file.chmod(0o600)
        SECRET_KEY = _key_file.read_text().strip()
    else:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL is set")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "core",
    "content",
    "knowledge",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RejectNulMiddleware",  # before anything looks a value up in the database
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # the policy: core/settings/security.py
    "core.middleware.WorkspaceMiddleware",
]
if env_list("STRATA_CSP_FRAME_ANCESTORS", []):
    # pages may be framed by those origins: CSP frame-ancestors (core/settings/security.py) guards
    # against clickjacking instead of X-Frame-Options, which cannot name origins
    MIDDLEWARE.remove("django.middleware.clickjacking.XFrameOptionsMiddleware")
    SILENCED_SYSTEM_CHECKS = ["security.W002"]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.workspace",
            ],
        },
    },
]

# ------------------------------------------------------------------ accounts, i18n, static
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"


def _vis_network_dir() -> str | None:
    """The graph explorer's drawing library, vis-network, as the PyPI package ``pyvis`` ships it
    (installed by pip with the rest; never committed here)."""
    import importlib.util

    spec = importlib.util.find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(list(spec.submodule_search_locations)[0]) / "lib" / "vis-9.1.2"
    return str(found) if (found / "vis-network.min.js").is_file() else None


def _plotly_dir() -> str | None:
    """The agents analytics page's charting library, plotly.js, as the PyPI package ``plotly``
    ships it (``plotly/package_data/plotly.min.js``; installed by pip, never committed here)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(list(spec.submodule_search_locations)[0]) / "package_data"
    return str(found) if (found / "plotly.min.js").is_file() else None


STATICFILES_DIRS = [
    *[("vendor/vis-network", d) for d in [_vis_network_dir()] if d],
    *[("vendor/plotly", d) for d in [_plotly_dir()] if d],
]
# Static files (admin CSS/JS, site.css) are served by WhiteNoise under gunicorn: in production
# from STATIC_ROOT (collectstatic, hashed names); in embedded mode straight from the apps'
# static directories (no collectstatic needed).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
if DEBUG or not os.environ.get("DATABASE_URL"):
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True
    STATIC_ROOT = None  # nothing is collected here

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
X_FRAME_OPTIONS = "DENY"
# HTTPS in production (README "Configuration"); Django's defaults already send nosniff,
# Referrer-Policy same-origin and Cross-Origin-Opener-Policy same-origin.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers' plain-HTTP liveness checks
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Celery's INFO lines for each beat-driven outbox relay run (three every 5 s) are dropped;
    # the relay logs by itself when it delivers something (core/log_filters.py).
    "filters": {"quiet_relay_runs": {"()": "core.log_filters.QuietRelayRuns"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("STRATA_LOG_LEVEL", "INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        "celery.beat": {"filters": ["quiet_relay_runs"]},
        "celery.app.trace": {"filters": ["quiet_relay_runs"]},
        "celery.worker.strategy": {"filters": ["quiet_relay_runs"]},
    },
}
