"""The generated password of the first superuser, kept in a 0600 file until its first login.

``strata_run`` creates the superuser with a random password when ``DJANGO_SUPERUSER_PASSWORD``
is unset, writes it to ``<data dir>/initial-password-<username>`` (readable by the owner only)
and shows it in its start-up banner. The first login of that user deletes the file (a
``user_logged_in`` receiver, connected in ``CoreConfig.ready``); so does a start of
``strata_run`` that finds the password no longer valid (changed with
``./strata manage changepassword``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core import embedded


def path(username: str) -> Path:
    return embedded.data_dir() / f"initial-password-{username}"


def remember(*, username: str, password: str) -> Path:
    """Write the password to a file only its owner can read; return the file's path."""
    target = path(username)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    target.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    return target


def recall(*, user: Any) -> str | None:
    """The kept password of ``user`` while it is still the user's password; a stale file is removed."""
    target = path(user.get_username())
    try:
        password = target.read_text().strip()
    except FileNotFoundError:
        return None
    if password and user.check_password(password):
        return password
    target.unlink(missing_ok=True)
    return None


def forget(*, username: str) -> None:
    path(username).unlink(missing_ok=True)


def forget_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: the user has used the password, so the file goes."""
    forget(username=user.get_username())
