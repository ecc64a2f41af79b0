"""Console users: a name and a password, stored as a salted scrypt hash (never the password).

The ``console_users`` table is this module's own (created on first use with the store's engine),
like the API keys' table. A console user may do everything an admin key may do in the console.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text, select, update

from campaignrec.errors import UnknownIdError, ValidationError

#: scrypt cost parameters (RFC 7914): n = 2**15, r = 8, p = 1 takes about 32 MiB and ~50 ms.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**15, 8, 1, 32
MIN_PASSWORD = 12
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

_META = MetaData()
CONSOLE_USERS = Table(
    "console_users",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False, unique=True),
    Column("salt", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    username: str
    disabled: bool


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=KEY_BYTES
    ).hex()


class ConsoleUsers:
    """Create, list, disable and verify console users in the store's database."""

    def __init__(self, store: object) -> None:
        self.engine = store.engine  # type: ignore[attr-defined]
        _META.create_all(self.engine, checkfirst=True)
        # a fixed dummy hash so an unknown name costs as much as a wrong password
        self._dummy = (secrets.token_bytes(16), "")

    def create(self, username: str, password: str) -> ConsoleUser:
        if not NAME.match(username):
            raise ValidationError(
                "username", "use 1-64 letters, digits, _ . @ or -", value=username
            )
        if len(password) < MIN_PASSWORD:
            raise ValidationError(
                "password", f"must be at least {MIN_PASSWORD} characters", value="(hidden)"
            )
        salt = secrets.token_bytes(16)
        digest = _hash(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        with self.engine.begin() as conn:
            if conn.execute(
                select(CONSOLE_USERS.c.id).where(CONSOLE_USERS.c.username == username)
            ).first():
                raise ValidationError("username", "exists already", value=username)
            res = conn.execute(
                CONSOLE_USERS.insert().values(
                    username=username,
                    salt=salt.hex(),
                    digest=digest,
                    params=f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}",
                    created_at=time.time_ns() // 1000,
                    disabled=False,
                )
            )
            user_id = int(res.inserted_primary_key[0])
        return ConsoleUser(user_id, username, False)

    def list(self) -> list[ConsoleUser]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(CONSOLE_USERS).order_by(CONSOLE_USERS.c.id)).all()
        return [ConsoleUser(int(r.id), str(r.username), bool(r.disabled)) for r in rows]

    def get(self, user_id: int) -> ConsoleUser | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(CONSOLE_USERS).where(CONSOLE_USERS.c.id == user_id)).first()
        return None if r is None else ConsoleUser(int(r.id), str(r.username), bool(r.disabled))

    def disable(self, username: str) -> None:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(CONSOLE_USERS)
                .where(CONSOLE_USERS.c.username == username)
                .values(disabled=True)
            )
        if res.rowcount == 0:
            raise UnknownIdError(
                "console user", username, hint="see: campaignrec console-users list"
            )

    def verify(self, username: str, password: str) -> ConsoleUser | None:
        """The user when the name exists, is enabled and the password matches, else None."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(CONSOLE_USERS).where(CONSOLE_USERS.c.username == username)
            ).first()
        if r is None:
            _hash(password, self._dummy[0], SCRYPT_N, SCRYPT_R, SCRYPT_P)
            return None
        _, n, rr, p = str(r.params).split(":")
        digest = _hash(password, bytes.fromhex(r.salt), int(n), int(rr), int(p))
        if not hmac.compare_digest(digest, str(r.digest)) or r.disabled:
            return None
        return ConsoleUser(int(r.id), str(r.username), False)
