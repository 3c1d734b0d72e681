"""The spec's recording file name, both ways: built for an upload, parsed back from a folder.

`audio_<device>_<codec>_<sampleRate>_<channel>_fs<frameSize>_<timerStart>.bin`, where the
device is lower-cased to letters and digits (spec section 2).
"""

from __future__ import annotations

import re
from typing import Final

from attrs import frozen

__all__ = ["NAME_FORMAT", "RecordingName", "name_problem", "parse_recording_name",
           "upload_file_name"]

NAME_FORMAT: Final = "audio_<device>_<codec>_<rate>_<channel>_fs<frame>_<timerStart>.bin"
_FITS: Final = 1 << 63  # every number in a name is stored as a signed 64-bit integer

_NAME: Final = re.compile(
    r"audio_(?P<device>[a-z0-9]+)_(?P<codec>[A-Za-z0-9]+)_(?P<sample_rate>\d+)_(?P<channel>\d+)"
    r"_fs(?P<frame_size>\d+)_(?P<timer_start>\d+)\.bin")


def upload_file_name(device: str, codec: str, sample_rate: int, channel: int, frame_size: int,
                     timer_start: int) -> str:
    """`audio_<device>_<codec>_<rate>_<channel>_fs<frameSize>_<timerStart>.bin` (device: a-z0-9 only)."""
    clean = re.sub(r"[^a-z0-9]", "", device.lower())
    return f"audio_{clean}_{codec}_{sample_rate}_{channel}_fs{frame_size}_{timer_start}.bin"


@frozen(kw_only=True)
class RecordingName:
    """The fields of an upload file name (spec section 2)."""

    device: str
    codec: str
    sample_rate: int
    channel: int
    frame_size: int
    timer_start: int

    @property
    def wal_id(self) -> str:
        """`<device>_<timerStart>`, as Engine.register makes it."""
        return f"{self.device}_{self.timer_start}"


def name_problem(name: str) -> str | None:
    """Why a file name is not a recording's (None when it is one)."""
    match = _NAME.fullmatch(re.split(r"[\\/]", name)[-1])
    if match is None:
        return f"not a recording name ({NAME_FORMAT})"
    big = [key for key in ("sample_rate", "channel", "frame_size", "timer_start")
           if int(match[key]) >= _FITS]
    if big:
        return f"its {big[0].replace('_', ' ')} does not fit in 64 bits"
    return None


def parse_recording_name(name: str) -> RecordingName | None:
    """`audio_<device>_<codec>_<rate>_<channel>_fs<frameSize>_<timerStart>.bin` (any leading path);
    None when it is not one, or when a number in it does not fit in 64 bits (name_problem says)."""
    match = _NAME.fullmatch(re.split(r"[\\/]", name)[-1])
    if match is None or name_problem(name) is not None:
        return None
    return RecordingName(device=match["device"], codec=match["codec"],
                         sample_rate=int(match["sample_rate"]), channel=int(match["channel"]),
                         frame_size=int(match["frame_size"]),
                         timer_start=int(match["timer_start"]))
