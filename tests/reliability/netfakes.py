"""A stateful backend behind httpx.MockTransport, with faults injected around the real model.

The model is the simulator's backend (`SimBackend` through `sim_http.handle`): it creates jobs,
honours the Idempotency-Key and runs the stale guard. `Faults` decides, per request, whether the
connection fails before the server sees it or after the server applied it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import httpx
from attrs import define, field

from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import EventStore, ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.sim.backend import BackendConfig, SimBackend
from walsync.adapters.sim.server import handle
from walsync.adapters.store.memory import MemoryStore
from walsync.core.policies import WALSYNC
from walsync.core.policy import Policy

from fakes import T0, ids

Fault = Literal["read_timeout", "protocol_error", "connect_error"]


@define
class ModelTransport:
    """Requests into the model at the manual clock's time; `faults` pops one fault per request."""

    model: SimBackend
    clock: ManualClock
    faults: list[Fault | None] = field(factory=list)
    requests: list[httpx.Request] = field(factory=list)
    bodies: list[bytes] = field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "connect_error":
            raise httpx.ConnectError("connection refused", request=request)
        self.requests.append(request)
        body = request.read()
        self.bodies.append(body)
        status, headers, payload = handle(self.model, self.seconds(), request.method, str(request.url),
                                          dict(request.headers), body)
        if fault == "read_timeout":
            raise httpx.ReadTimeout("timed out reading the answer", request=request)
        if fault == "protocol_error":
            raise httpx.RemoteProtocolError("server disconnected without an answer", request=request)
        return httpx.Response(status, headers=headers, content=payload)

    def seconds(self) -> float:
        return (self.clock.now() - T0).total_seconds()

    def uploads(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


class ModelHarness:
    """An engine over HttpBackend over MockTransport over the model, on a manual clock."""

    def __init__(self, policy: Policy = WALSYNC, *, config: BackendConfig | None = None,
                 handler: Callable[[httpx.Request], httpx.Response] | None = None,
                 rng_seed: int = 3, store: EventStore | None = None) -> None:
        self.clock = ManualClock(T0)
        self.model = SimBackend(config=config or BackendConfig(), epoch=T0.timestamp())
        self.transport = ModelTransport(self.model, self.clock)
        self.http = HttpBackend("https://api.example.test/", "TOKEN",
                                transport=httpx.MockTransport(handler or self.transport))
        self.files = MemoryFiles()
        self.store = store or MemoryStore()
        self.engine = Engine(self.store, self.http, clock=self.clock, files=self.files, policy=policy,
                             new_id=ids(), rng=random.Random(rng_seed))

    def add(self, n: int = 1, *, conversation_id: str | None = None) -> list[str]:
        made = []
        for _ in range(n):
            start = int(T0.timestamp()) - 3600 + 60 * len(self.store.projection.wals)
            wal_id = self.engine.register(timer_start=start, file_path=f"{start}.bin",
                                          conversation_id=conversation_id)
            self.files.contents[wal_id] = b"\x02\x00\x00\x00ab"
            made.append(wal_id)
        return made

    def types(self) -> list[str]:
        return [r.type for r in self.store.read()]

    def advance(self, seconds: float) -> datetime:
        self.clock.advance(seconds)
        return self.clock.now()
