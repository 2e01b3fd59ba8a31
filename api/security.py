"""Passwords (argon2 via pwdlib) and JWT bearer tokens (PyJWT); roles travel as scopes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ALGORITHM = "HS256"
_hasher = PasswordHash.recommended()
#: verified against when the e-mail is unknown, so a login takes as long either way
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def configure_hasher(time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Argon2 cost for new hashes (existing hashes carry their own parameters)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost,
                                         parallelism=parallelism),))
    _DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    if hashed is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, hashed)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        return False


def create_token(secret: str, subject: int, coop_id: int, scopes: list[str], minutes: int,
                 purpose: str = "access", extra: dict[str, Any] | None = None) -> str:
    now = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {
        **(extra or {}), "sub": str(subject), "coop": coop_id, "scopes": scopes, "purpose": purpose,
        "iat": now, "exp": now + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, purpose: str = "access") -> dict[str, Any] | None:
    """The token's claims, or None when it is invalid, expired or for another purpose."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "purpose"]})
    except jwt.PyJWTError:
        return None
    if claims.get("purpose") != purpose:
        return None
    try:
        int(claims["sub"])
    except (TypeError, ValueError):
        return None
    return claims
