"""The console's session: a signed cookie holding the admin key's (or console user's) id, a CSRF
token and its age.

The cookie is signed (``itsdangerous``, HMAC-SHA1 over a secret), ``HttpOnly`` and
``SameSite=Lax``; it never holds the API key itself. The secret comes from
``CAMPAIGNREC_CONSOLE_SECRET`` or, when unset, from ``<home>/console.secret`` (created once with
mode 0600), so every worker of one data directory accepts the same cookies.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "crconsole"
LANG_COOKIE = "crlang"
MAX_AGE_SECONDS = 12 * 3600
SECRET_FILE = "console.secret"


def console_secret(home: Path) -> str:
    """The signing secret: the environment's, else the data directory's (made on first use)."""
    env = os.environ.get("CAMPAIGNREC_CONSOLE_SECRET")
    if env:
        return env
    path = Path(home) / SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(32).encode())
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Session:
    """What the cookie says: the CSRF token and, once logged in, the admin key's id or the
    console user's id."""

    csrf: str
    key_id: int | None = None
    user_id: int | None = None

    @property
    def logged_in(self) -> bool:
        return self.key_id is not None or self.user_id is not None


class SessionCodec:
    """Sign and read session cookies."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="campaignrec-console")

    def dumps(self, session: Session) -> str:
        payload: dict[str, Any] = {"c": session.csrf, "k": session.key_id, "u": session.user_id}
        return self._s.dumps(payload)

    def loads(self, cookie: str | None) -> Session | None:
        """The session of a valid, unexpired cookie, else None (tampered, expired, missing)."""
        if not cookie:
            return None
        try:
            data = self._s.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        kid, uid = data.get("k"), data.get("u")
        return Session(
            csrf=data["c"],
            key_id=kid if isinstance(kid, int) else None,
            user_id=uid if isinstance(uid, int) else None,
        )


def new_session(key_id: int | None = None, user_id: int | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(24), key_id=key_id, user_id=user_id)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """Whether the form's (or header's) token is the session's (constant-time)."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())
