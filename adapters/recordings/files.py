"""How a WAL becomes an upload file: the spec's file name and the recording's bytes."""

from __future__ import annotations

from walsync.adapters.http.client import UploadFile, upload_file_name
from walsync.core.wal import Wal

__all__ = ["upload_file_for"]


def upload_file_for(wal: Wal, content: bytes) -> UploadFile:
    """`audio_<device>_<codec>_<rate>_<channel>_fs<frameSize>_<timerStart>.bin` with its bytes."""
    name = upload_file_name(wal.device, wal.codec, wal.sample_rate, wal.channel,
                            wal.frame_size, wal.timer_start)
    return UploadFile(name=name, content=content)
