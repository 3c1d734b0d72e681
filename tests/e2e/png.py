"""Read a PNG's pixels (8-bit RGB or RGBA, not interlaced: what Chromium's screenshots are), so a
test can check what a screenshot shows without an imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["Image", "read_png"]


class Image:
    """Width, height and rows of (r, g, b) pixels."""

    def __init__(self, width: int, height: int, rows: list[list[tuple[int, int, int]]]) -> None:
        self.width, self.height, self.rows = width, height, rows

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        return self.rows[y][x]

    def region(self, left: float, top: float, right: float, bottom: float) -> list[tuple[int, int, int]]:
        """Every pixel inside a box (clipped to the image)."""
        x0, y0 = max(int(left), 0), max(int(top), 0)
        x1, y1 = min(int(right), self.width), min(int(bottom), self.height)
        return [self.rows[y][x] for y in range(y0, y1) for x in range(x0, x1)]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(path: Path) -> Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 4 if color == 6 else 3
    raw, stride = zlib.decompress(idat), width * channels
    previous, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        previous = line
    return Image(width, height, rows)  # type: ignore[arg-type]  # 3-tuples of ints by construction
