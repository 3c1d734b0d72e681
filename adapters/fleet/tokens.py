"""Device tokens for `fleet serve`: each device pushes with its own token, issued by
`walsync fleet token create --device D` and stored hashed (SHA-256 of a 256-bit secret: the
secret is random, so a slow hash adds nothing). A token names its device and its id; the
server checks the secret against the stored hash of that device's token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from walsync.adapters.fleet.ingest import DEVICE_ID
from walsync.adapters.fleet.store import PgConnection
from walsync.core.errors import StoreError

__all__ = ["create_token", "device_of_token", "revoke_token"]

_PREFIX: Final = "wsf1"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(conn: PgConnection, device_id: str) -> tuple[str, str]:
    """(token id, token): the token is shown once and only its hash is kept."""
    if not DEVICE_ID.fullmatch(device_id):
        raise StoreError(f"{device_id!r} is not a usable device id (letters, digits and .:@+- "
                         f"only, at most 128)")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    conn.execute("INSERT INTO fleet_tokens (device_id, token_id, token_hash) VALUES (%s, %s, %s)",
                 (device_id, token_id, _digest(secret)))
    return token_id, f"{_PREFIX}_{device_id}_{token_id}_{secret}"


def revoke_token(conn: PgConnection, device_id: str, token_id: str) -> bool:
    """Stop a token working; False when the device has no such live token."""
    done = conn.execute("UPDATE fleet_tokens SET revoked_at = now() WHERE device_id = %s AND "
                        "token_id = %s AND revoked_at IS NULL", (device_id, token_id))
    return done.rowcount == 1


def device_of_token(conn: PgConnection, token: str) -> str | None:
    """The device a live token belongs to, or None (malformed, unknown, revoked, wrong secret)."""
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != _PREFIX or len(token) > 400:
        return None
    _, device_id, token_id, secret = parts
    found = conn.execute("SELECT token_hash FROM fleet_tokens WHERE device_id = %s AND "
                         "token_id = %s AND revoked_at IS NULL", (device_id, token_id)).fetchone()
    if found is None or not hmac.compare_digest(str(found[0]), _digest(secret)):
        return None
    return device_id
