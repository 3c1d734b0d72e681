"""Keep-alive: the time of one backend call on a kept-alive connection against one on a fresh
connection per call, side by side, against the simulated backend on loopback (`serve-sim`'s
server). A third side keeps connections alive against a server that writes a response's
headers and body in two writes without TCP_NODELAY, as `serve-sim` did: Nagle's algorithm
holds the body until the client's delayed ACK of the headers.

    .venv/bin/python bench/bench_keepalive.py [--n 50] [--runs 3]

--n is the calls per side per run (status polls, then uploads of one recording each).
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table

from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import UploadFile
from walsync.adapters.sim.backend import SimBackend
from walsync.adapters.sim.server import SimServer, handle

TOKEN = "bench-token-0123456789"


def _files(i: int) -> list[UploadFile]:
    name = f"audio_omi_opus_16000_1_fs160_{int(time.time()) - 86_400 + i}.bin"
    return [UploadFile(name=name, content=b"\x02\x00\x00\x00ok" * 60)]


def _two_write_server(model: SimBackend) -> ThreadingHTTPServer:
    """The simulated backend as served before: headers, then the body, Nagle on."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            status, headers, body = handle(model, 0.0, self.command, self.path,
                                           dict(self.headers), data)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _per_call_ms(http: HttpBackend, calls: int, job_id: str, offset: int) -> tuple[float, float]:
    """(ms per status poll, ms per upload), each the median of `calls` calls."""
    polls, uploads = [], []
    for _ in range(calls):
        started = time.perf_counter()
        http.job_status(job_id)
        polls.append(time.perf_counter() - started)
    for i in range(calls):
        files = _files(offset + i)
        started = time.perf_counter()
        http.upload(files)
        uploads.append(time.perf_counter() - started)
    return median(polls) * 1000, median(uploads) * 1000


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=50, runs=3).parse_args(argv)
    model = SimBackend(epoch=time.time())
    sim = SimServer(model, lambda: 0.0).start()
    old = _two_write_server(model)
    threading.Thread(target=old.serve_forever, daemon=True).start()
    old_url = f"http://127.0.0.1:{old.server_address[1]}/"
    sides: dict[str, list[tuple[float, float]]] = {"fresh": [], "kept": [], "kept, two writes": []}
    job_id = ""
    try:
        with HttpBackend(sim.url, TOKEN) as http:
            answer = http.upload(_files(10**6))
            job_id = getattr(answer, "job_id", "job-000001")
        offset = 0
        for _ in range(args.runs):  # interleaved, so noise hits every side alike
            for side in sides:
                offset += args.n
                if side == "fresh":
                    http = HttpBackend(sim.url, TOKEN, transport=httpx.HTTPTransport(
                        limits=httpx.Limits(max_keepalive_connections=0)))
                elif side == "kept":
                    http = HttpBackend(sim.url, TOKEN)
                else:
                    http = HttpBackend(old_url, TOKEN)
                with http:
                    sides[side].append(_per_call_ms(http, args.n, job_id, offset))
    finally:
        sim.stop()
        old.shutdown()
        old.server_close()
    poll = {side: median([p for p, _ in found]) for side, found in sides.items()}
    upload = {side: median([u for _, u in found]) for side, found in sides.items()}
    rows = [(f"{side}: status poll, ms per call", f"{poll[side]:.2f}") for side in sides]
    rows += [(f"{side}: upload, ms per call", f"{upload[side]:.2f}") for side in sides]
    rows.append(("ratio kept / fresh, status poll", f"{poll['kept'] / poll['fresh']:.2f}"))
    rows.append(("ratio kept / fresh, upload", f"{upload['kept'] / upload['fresh']:.2f}"))
    table(f"one call to the simulated backend on loopback ({args.n} calls per side, "
          f"{args.runs} runs, medians)", rows)
    print(machine())
    return {"kept_over_fresh_poll": poll["kept"] / poll["fresh"]}


if __name__ == "__main__":
    main()
