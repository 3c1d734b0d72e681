"""Reading a recording for upload: from a folder on disk, or from memory (tests, the simulator).

A recording goes out as it was when it was opened, read in chunks as the request is sent:
memory does not grow with its size, and a file that shrinks, grows, is replaced or vanishes
before its last byte was sent raises RecordingChanged instead of sending something else.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

from walsync.adapters.ports import OpenedRecording, Readable, UploadFile
from walsync.adapters.recordings.names import upload_file_name
from walsync.core.errors import RecordingChanged
from walsync.core.wal import Wal

__all__ = ["DirectoryFiles", "MemoryFiles", "SnapshotReader", "upload_file_for"]


def upload_file_for(wal: Wal, content: bytes | Readable) -> UploadFile:
    """`audio_<device>_<codec>_<rate>_<channel>_fs<frameSize>_<timerStart>.bin` with its content."""
    name = upload_file_name(wal.device, wal.codec, wal.sample_rate, wal.channel,
                            wal.frame_size, wal.timer_start)
    return UploadFile(name=name, content=content)


class MemoryFiles:
    """Recording bytes held in a dict keyed by WAL id (tests, demo)."""

    def __init__(self, contents: dict[str, bytes] | None = None) -> None:
        self.contents: dict[str, bytes] = dict(contents or {})

    def open_recording(self, wal: Wal) -> OpenedRecording | None:
        """The bytes as a stream, or None when absent."""
        content = self.contents.get(wal.wal_id)
        if content is None:
            return None
        return OpenedRecording(stream=io.BytesIO(content), size=len(content), modified_at=None)

    def exists(self, wal: Wal) -> bool:
        """Whether the bytes are there."""
        return wal.wal_id in self.contents


class DirectoryFiles:
    """Recordings stored as files under one folder (`file_path` is relative to it)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, wal: Wal) -> Path | None:
        """The file, when it is one and inside the folder."""
        if not wal.file_path:
            return None
        candidate = (self.root / wal.file_path).resolve()
        if self.root not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    def open_recording(self, wal: Wal) -> OpenedRecording | None:
        """The file opened for upload, or None when it is missing, outside the folder or
        cannot be opened."""
        path = self._path(wal)
        if path is None:
            return None
        try:
            reader = SnapshotReader(path)
        except OSError:
            return None
        return OpenedRecording(stream=reader, size=reader.size,
                               modified_at=datetime.fromtimestamp(reader.mtime_ns / 1e9, UTC))

    def exists(self, wal: Wal) -> bool:
        """Whether the file is there (nothing is read)."""
        return self._path(wal) is not None


class SnapshotReader:
    """A file read as it was when opened: exactly its size then, in the chunks the caller
    asks for. Reaching the end checks that the file still is that file, unchanged (same inode,
    size and modification time, no byte beyond); RecordingChanged otherwise. Its length is
    told by seek/tell (no `fileno`), so an HTTP client declares the size it was opened with."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("rb")
        try:
            stat = os.fstat(self._file.fileno())
        except OSError:
            self._file.close()
            raise
        self.size, self.mtime_ns, self._inode = stat.st_size, stat.st_mtime_ns, stat.st_ino
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1); RecordingChanged as the class says."""
        left = self.size - self._pos
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            self._check_unchanged()
            return b""
        try:
            data = self._file.read(want)
        except OSError as error:
            raise RecordingChanged(f"{self._path.name} could not be read while it was being "
                                   f"uploaded ({error.strerror})") from None
        if len(data) < want:
            raise RecordingChanged(f"{self._path.name} shrank while it was being uploaded")
        self._pos += len(data)
        if self._pos == self.size:
            self._check_unchanged()
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move within the snapshot (SEEK_END counts from the size it was opened with)."""
        target = {os.SEEK_SET: offset, os.SEEK_CUR: self._pos + offset,
                  os.SEEK_END: self.size + offset}[whence]
        self._file.seek(max(0, target))
        self._pos = max(0, target)
        return self._pos

    def tell(self) -> int:
        """The position within the snapshot."""
        return self._pos

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _check_unchanged(self) -> None:
        try:
            more = self._file.read(1)
        except OSError:
            more = b"?"
        if more:
            raise RecordingChanged(f"{self._path.name} grew while it was being uploaded")
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            raise RecordingChanged(f"{self._path.name} vanished while it was being uploaded") from None
        except OSError as error:
            raise RecordingChanged(f"{self._path.name} could not be checked after its upload "
                                   f"({error.strerror})") from None
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) != (self._inode, self.size, self.mtime_ns):
            raise RecordingChanged(f"{self._path.name} changed while it was being uploaded")
