"""T21 end to end: whatever Retry-After a 429 carries on the wire, a cooldown is persisted.

The parser itself is fuzzed in tests/unit/test_retry_after.py (the catalogue's list, 500
examples). Here the raw header bytes go through HttpBackend and the engine: every 429 must end
as a `CooldownStarted` in the log, lasting between the default and the 24 h ceiling; a value the
parser refuses falls back to the default backoff, never to an error.
"""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.adapters.http.client import HttpBackend
from walsync.core.events import CooldownStarted
from walsync.core.policies import SEED, WALSYNC

from fakes import Harness

_CATALOGUE = ["120", " 120 ", "+120", "-5", "1.5", "1_000", "１２０", "٣", "²", "0", str(10**30),
              "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
              "Sun Nov  6 08:49:37 1994", "Wed, 20 May 2026 09:00:00 -0000",
              "Fri, 31 Dec 9999 23:59:59 GMT", "garbage", "", "120, 60"]
# Header values as bytes on the wire: UTF-8 of any text, or arbitrary latin-1 bytes.
_WIRE = st.one_of(st.sampled_from(_CATALOGUE).map(lambda t: t.encode("utf-8")),
                  st.text(max_size=40).map(lambda t: t.encode("utf-8")),
                  st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b
                                                and b"\x00" not in b),
                  st.none())


@settings(max_examples=scale(150, 2000), deadline=None, print_blob=True)
@given(raw=_WIRE, policy=st.sampled_from([WALSYNC, SEED]))
def test_t21_every_429_persists_a_bounded_cooldown(raw: bytes | None, policy: object) -> None:
    headers = [] if raw is None else [(b"Retry-After", raw)]

    def throttle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=headers, json={"detail": "fair use"})

    h = Harness(policy)  # type: ignore[arg-type]
    h.engine.backend = HttpBackend("https://api.example.test/", "T",
                                   transport=httpx.MockTransport(throttle))
    h.add(1)
    h.engine.sync_all()
    started = [r.event for r in h.store.read() if isinstance(r.event, CooldownStarted)]
    assert len(started) == 1, "the 429 left no cooldown in the log"
    assert 0 <= started[0].seconds <= 86_400
    assert h.engine.gate().gate.limited or started[0].seconds == 0
    record("t21", "Retry-After values through a 429", 1, lost=0)
