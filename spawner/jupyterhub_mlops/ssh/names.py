"""Login names: what a client may type before ``@`` and which server it means.

A login is ``user`` (the default server) or ``user.servername`` (a named
server). User names may themselves contain the separator, so a login is
resolved against the user the credential belongs to: ``candidates()`` lists
every (user, server) reading, and authentication keeps the one whose user owns
the key or token. Everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_contract.ssh import LOGIN_SEPARATOR

#: Characters a login may contain by default: what JupyterHub's common
#: authenticators produce (lowercase names, e-mail style names, digits).
DEFAULT_LOGIN_PATTERN = r"[a-z0-9][a-z0-9._@+-]*"
DEFAULT_MAX_LOGIN_LENGTH = 128


class InvalidLogin(ValueError):
    """The login name is malformed; the message says why (safe to show and log)."""


@dataclass(frozen=True)
class Target:
    """A user's server: ``server`` is ``""`` for the default server."""

    user: str
    server: str = ""

    @property
    def display(self) -> str:
        return f"{self.user}/{self.server}" if self.server else self.user


def validate_login(
    login: str,
    pattern: str = DEFAULT_LOGIN_PATTERN,
    max_length: int = DEFAULT_MAX_LOGIN_LENGTH,
    separator: str = LOGIN_SEPARATOR,
) -> str:
    """Return ``login`` if it is acceptable, else raise ``InvalidLogin``.

    Refused: empty or over ``max_length`` characters, anything outside
    ``pattern`` (which excludes NUL, control characters, ``/`` and, by
    default, non-ASCII), path traversal (``..``) and an empty part around
    the server separator.
    """
    if not login:
        raise InvalidLogin("empty login name")
    if len(login) > max_length:
        raise InvalidLogin(f"login name longer than {max_length} characters")
    if not re.fullmatch(pattern, login):
        raise InvalidLogin("login name contains characters that are not allowed")
    if ".." in login or login.startswith(separator) or login.endswith(separator):
        raise InvalidLogin("login name has an empty part")
    return login


def candidates(login: str, separator: str = LOGIN_SEPARATOR) -> list[Target]:
    """Every way to read ``login`` as user[.server], the whole name first."""
    readings = [Target(login)]
    start = 0
    while (i := login.find(separator, start)) != -1:
        readings.append(Target(login[:i], login[i + 1 :]))
        start = i + 1
    return readings


def reading_for_user(login: str, user: str, separator: str = LOGIN_SEPARATOR) -> Target | None:
    """The reading of ``login`` whose user is ``user``, or None if there is none."""
    return next((t for t in candidates(login, separator) if t.user == user), None)


def printable(text: str, limit: int = 80) -> str:
    """A login name made safe for one log line: escaped and truncated."""
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return shown + (f"...(+{len(text) - limit} chars)" if len(text) > limit else "")
