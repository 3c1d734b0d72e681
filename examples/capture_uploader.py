"""An asyncio app that embeds walsync: a capture loop hands finished recordings over on a queue
(as an Omi BLE capture loop would: the Omi Python SDK streams audio with bleak inside an event
loop), `AsyncSyncService` uploads them in the background, and the status card is rendered on
every change. It shuts down cleanly on SIGTERM or Ctrl-C, or once every capture is uploaded.

    python examples/capture_uploader.py --backend URL --token T --db sync.db --folder rec

Here the capture is a stand-in that writes `--recordings` opus files, one every `--every`
seconds, each written under a temporary name and renamed into place when complete, then
queued. Only the face (`import walsync`) is used.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import time
from pathlib import Path

import walsync

DEVICE = "omi"
FRAMES = b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60))  # 60 length-prefixed frames


async def capture(folder: Path, count: int, every: float, queue: asyncio.Queue[int | None]) -> None:
    """The stand-in for a BLE capture loop: each finished recording goes on the queue by its
    timer start (its file name says the rest); None when the capture ends."""
    first = int(time.time()) - 3600
    for i in range(count):
        timer_start = first + 60 * i
        name = f"audio_{DEVICE}_opus_16000_1_fs160_{timer_start}.bin"
        partial = folder / (name + ".part")
        await asyncio.to_thread(partial.write_bytes, FRAMES)
        partial.rename(folder / name)
        await queue.put(timer_start)
        await asyncio.sleep(every)
    await queue.put(None)


async def hand_over(service: walsync.AsyncSyncService, queue: asyncio.Queue[int | None]) -> int:
    """Register each finished recording (off the loop; the service is nudged); the count."""
    handed = 0
    while (timer_start := await queue.get()) is not None:
        await service.register(device=DEVICE, timer_start=timer_start, codec="opus",
                               sample_rate=16000, channel=1, frame_size=160,
                               file_path=f"audio_{DEVICE}_opus_16000_1_fs160_{timer_start}.bin")
        handed += 1
    return handed


async def render(service: walsync.AsyncSyncService) -> None:
    """Print the status card whenever a commit changes it (until the service stops)."""
    shown = ""
    async for _ in service.changes():
        card = service.engine.card()
        if card.text != shown:
            shown = card.text
            print(f"card: {card.text}", flush=True)


def all_uploaded(engine: walsync.Engine, count: int) -> bool:
    rows = engine.rows()
    return len(rows) == count and all(r.state in ("uploaded", "synced") for r in rows)


async def main(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    engine = walsync.open_engine(args.db, base_url=args.backend, token=args.token,
                                 recordings_dir=folder, policy=args.policy)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    try:
        async with walsync.AsyncSyncService(engine) as service:
            renderer = asyncio.create_task(render(service))
            producer = asyncio.create_task(capture(folder, args.recordings, args.every, queue))
            consumer = asyncio.create_task(hand_over(service, queue))
            while not stop.is_set():
                if consumer.done() and all_uploaded(engine, consumer.result()):
                    break
                await asyncio.sleep(0.1)
            producer.cancel()
            consumer.cancel()
        await renderer  # the service stopped: the card's stream ended
    finally:
        engine.close()
    print("stopped", flush=True)
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", required=True, help="backend base URL")
    parser.add_argument("--token", required=True, help="bearer token")
    parser.add_argument("--db", default="sync.db", help="the walsync log file")
    parser.add_argument("--folder", default="recordings", help="where captures are written")
    parser.add_argument("--recordings", type=int, default=3, help="how many to capture")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between captures")
    parser.add_argument("--policy", default="walsync", help="walsync, seed or legacy")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
