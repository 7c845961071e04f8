"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser).

Skipped where Chromium or Playwright is missing, except under CI (tests/optional.py). Every page
of ``browser_page`` (and of ``watch_csp``) is watched for Content-Security-Policy violations: a
test whose pages broke the policy fails at teardown, naming them."""

from __future__ import annotations

import os

import pytest
from django.db import connections

from tests.e2e.helpers import watch_csp
from tests.optional import require_chromium, require_module

# Playwright's sync API runs an event loop in this thread; Django must still allow DB calls here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    # Request this fixture AFTER the database fixtures: Playwright's sync API runs in a greenlet
    # with its own context, and Django connections opened there are not closed at teardown.
    chromium = require_chromium()
    sync_api = require_module("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
            # Queries the test made while Playwright ran used a connection of this context; close
            # it, or the test database cannot be dropped at the end of the run.
            connections.close_all()


@pytest.fixture
def browser_page(browser):
    page = browser.new_page()
    violations = watch_csp(page)
    yield page
    assert not violations, f"Content-Security-Policy violations: {violations}"
