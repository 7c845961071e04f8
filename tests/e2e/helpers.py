"""Helpers of the browser tests."""

from __future__ import annotations

from typing import Any


def log_in(page: Any, base_url: str, username: str = "alice", password: str = "pw-alice-123") -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0: nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def watch_csp(page: Any) -> list[str]:
    """The Content-Security-Policy violations of every document ``page`` loads from now on (its
    ``securitypolicyviolation`` events and Chromium's console errors about the policy), as a list
    that fills while the page is used."""
    violations: list[str] = []
    page.expose_function("__strataCspViolation", lambda text: violations.append(str(text)))
    page.add_init_script(
        """document.addEventListener("securitypolicyviolation", (e) => window.__strataCspViolation(
             `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""
    )
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return violations
