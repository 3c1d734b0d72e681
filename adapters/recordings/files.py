"""Reading a recording for upload: from a folder on disk, or from memory (tests, the simulator)."""

from __future__ import annotations

from pathlib import Path

from walsync.adapters.ports import UploadFile
from walsync.adapters.recordings.names import upload_file_name
from walsync.core.wal import Wal

__all__ = ["DirectoryFiles", "MemoryFiles", "upload_file_for"]


def upload_file_for(wal: Wal, content: bytes) -> UploadFile:
    """`audio_<device>_<codec>_<rate>_<channel>_fs<frameSize>_<timerStart>.bin` with its bytes."""
    name = upload_file_name(wal.device, wal.codec, wal.sample_rate, wal.channel,
                            wal.frame_size, wal.timer_start)
    return UploadFile(name=name, content=content)


class MemoryFiles:
    """Recording bytes held in a dict keyed by WAL id (tests, demo)."""

    def __init__(self, contents: dict[str, bytes] | None = None) -> None:
        self.contents: dict[str, bytes] = dict(contents or {})

    def read(self, wal: Wal) -> bytes | None:
        """The bytes, or None when absent."""
        return self.contents.get(wal.wal_id)


class DirectoryFiles:
    """Recordings stored as files under one folder (`file_path` is relative to it)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def read(self, wal: Wal) -> bytes | None:
        """The file's bytes, or None when missing or outside the folder."""
        if not wal.file_path:
            return None
        candidate = (self.root / wal.file_path).resolve()
        if self.root not in candidate.parents or not candidate.is_file():
            return None
        try:
            return candidate.read_bytes()
        except OSError:
            return None
