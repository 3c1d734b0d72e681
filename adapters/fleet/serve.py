"""`walsync fleet serve`: the HTTP endpoint devices push their log tails to (Starlette under
uvicorn). Each device authenticates with its own token and may write only its own log; a body
is size-capped and checked as hostile input (strict JSON, exact row shape, then every check
of tail.py), and lands in one transaction or not at all. Nothing here is kept between requests
but a connection per thread: several workers (processes) serve one PostgreSQL, and writers of
one device serialise on its row lock.

    GET  /v1/head                         -> {"device_id", "head_seq", "head_hash"}
    POST /v1/devices/{device_id}/events   {"rows": [row, ...]} (rows as `walsync export` writes
                                          them) -> {"device_id", "added", "already", "head_seq",
                                          "head_hash"}; 409 when the rows do not continue the
                                          fleet's head (the body says the head to send from)
"""

from __future__ import annotations

import os
import threading
from typing import Any, Final

import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from walsync.adapters.fleet.store import PgConnection, connect
from walsync.adapters.fleet.tail import TailRefused, add_tail
from walsync.adapters.fleet.tokens import device_of_token
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.records import GENESIS_HASH
from walsync.adapters.store.share.export import ROW_TYPES, strict_json
from walsync.core.errors import StoreError
from walsync.core.serde import canonical_bytes

__all__ = ["DEFAULT_MAX_BODY", "make_app", "serve"]

DEFAULT_MAX_BODY: Final = 8 << 20
MAX_ROWS: Final = 20_000
_MAX_INT: Final = 1 << 62
_ENV: Final = ("WALSYNC_FLEET_DB", "WALSYNC_FLEET_MAX_BODY")


class _Refused(Exception):
    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.body = status, {"error": error, **extra}


class _Connections(threading.local):
    conn: PgConnection | None = None


def make_app(dsn: str, *, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    """The ASGI app over the fleet database at `dsn`."""
    local = _Connections()

    def database() -> PgConnection:
        if local.conn is None or local.conn.closed:
            local.conn = connect(dsn, write=True)
        return local.conn

    def run(work: Any, *args: Any) -> Any:
        try:
            return work(database(), *args)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            if local.conn is not None:
                local.conn.close()
            local.conn = None
            raise _Refused(503, "the fleet database is unavailable; send again later") from None
        except StoreError as error:
            if isinstance(error, TailRefused):
                raise
            raise _Refused(503, str(error)) from None

    async def call(work: Any, *args: Any) -> Any:
        return await run_in_threadpool(run, work, *args)

    async def head(request: Request) -> JSONResponse:
        try:
            device_id = await call(_authorized, request.headers.get("authorization"), None)
            seq, digest = await call(_head, device_id)
        except _Refused as refused:
            return JSONResponse(refused.body, status_code=refused.status)
        return JSONResponse({"device_id": device_id, "head_seq": seq, "head_hash": digest})

    async def events(request: Request) -> JSONResponse:
        device_id = request.path_params["device_id"]
        try:
            await call(_authorized, request.headers.get("authorization"), device_id)
            rows = await run_in_threadpool(_rows, await _body(request, max_body))
            done = await call(_add, device_id, rows)
        except _Refused as refused:
            return JSONResponse(refused.body, status_code=refused.status)
        except TailRefused as refused:
            seq, digest = await call(_head, device_id)
            status = 409 if refused.kind in ("gap", "conflict") else 400
            return JSONResponse({"error": refused.reason, "kind": refused.kind, "seq": refused.seq,
                                 "head_seq": seq, "head_hash": digest}, status_code=status)
        return JSONResponse(done)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/v1/head", head), Route("/healthz", health),
                             Route("/v1/devices/{device_id}/events", events, methods=["POST"])])


def _authorized(conn: PgConnection, header: str | None, device_id: str | None) -> str:
    """The device of the request's token; 401 without a valid one, 403 for another device."""
    scheme, _, token = (header or "").partition(" ")
    owner = device_of_token(conn, token.strip()) if scheme.lower() == "bearer" else None
    if owner is None:
        raise _Refused(401, "a valid device token is required (Authorization: Bearer ...)")
    if device_id is not None and owner != device_id:
        raise _Refused(403, f"this token belongs to device {owner}, not {device_id[:128]}")
    return owner


def _head(conn: PgConnection, device_id: str) -> tuple[int, str]:
    found = conn.execute("SELECT head_seq, head_hash FROM devices WHERE device_id = %s",
                         (device_id,)).fetchone()
    return (int(found[0]), str(found[1])) if found else (0, GENESIS_HASH)


def _add(conn: PgConnection, device_id: str, rows: list[StoredEvent]) -> dict[str, Any]:
    return add_tail(conn, device_id, rows).to_json()


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes the cap, declared or not."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _Refused(413, f"the body is larger than the {limit} byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"the body is larger than the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _rows(body: bytes) -> list[StoredEvent]:
    """Strict JSON {"rows": [...]}, every row exactly an exported row's shape."""
    try:
        value = strict_json(body)
    except ValueError as error:
        raise _Refused(400, f"the body is not strict JSON ({error})") from None
    rows = value.get("rows") if isinstance(value, dict) and set(value) == {"rows"} else None
    if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
        raise _Refused(400, f'the body must be {{"rows": [...]}} with 1 to {MAX_ROWS} rows')
    found = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or set(row) - {"commit_end"} != set(ROW_TYPES) or any(
                not isinstance(row[k], t) or isinstance(row[k], bool)
                or (t is int and not 0 < row[k] < _MAX_INT) or (t is str and "\x00" in row[k])
                for k, t in ROW_TYPES.items()) or not (row.get("commit_end") is None or (
                    type(row["commit_end"]) is int and 0 < row["commit_end"] < _MAX_INT)):
            raise _Refused(400, f"row {number} is not a walsync event row")
        try:
            values: dict[str, Any] = {**row, "data": canonical_bytes(row["data"]).decode(),
                                      "commit_end": row.get("commit_end")}
            found.append(StoredEvent(**values))
        except (TypeError, ValueError):
            raise _Refused(400, f"row {number} cannot be stored as an event row") from None
    return found


def app_from_env() -> Starlette:
    """The app for uvicorn's workers (each a process): settings come from the environment."""
    return make_app(os.environ[_ENV[0]], max_body=int(os.environ.get(_ENV[1], DEFAULT_MAX_BODY)))


def serve(dsn: str, *, host: str, port: int, workers: int, max_body: int) -> None:
    """Run the endpoint under uvicorn until interrupted."""
    os.environ[_ENV[0]], os.environ[_ENV[1]] = dsn, str(max_body)
    uvicorn.run(f"{__name__}:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)
