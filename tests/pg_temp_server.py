"""A throwaway PostgreSQL server for tests and the fleet bench: initdb into a fresh folder,
run as an unprivileged user, reachable only through a unix socket in that folder, stopped at
the end. PostgreSQL refuses to run as root, and a socket-only server listens on no network."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["TempServer", "find_bin_dir"]

_SEARCH: Final = ("/usr/lib/postgresql/15/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                                         reverse=True))
_FAST: Final = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=40 -c shared_buffers=64MB")


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None when no server is installed."""
    for folder in _SEARCH:
        if all(os.access(Path(folder, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    return None


def _runner() -> tuple[list[str], int | None, int | None]:
    """The prefix that drops root (runuser to `postgres`, else `nobody`) and that user's ids."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user.pw_uid, user.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


class TempServer:
    """start() -> a libpq DSN; stop() shuts the server down and removes its folder."""

    def __init__(self, bin_dir: Path, *, fast: bool = True) -> None:
        self.bin_dir, self.fast = bin_dir, fast
        self.root = Path(tempfile.mkdtemp(prefix="walsync-pg-"))
        self.data = self.root / "data"
        self._prefix, uid, gid = _runner()
        if uid is not None and gid is not None:
            os.chown(self.root, uid, gid)
        self.dsn = f"host={self.root} port=5432 user=walsync dbname=postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._prefix, *args], capture_output=True, text=True,
                              timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")

    def start(self) -> str:
        """initdb, then start on the folder's unix socket only (listen_addresses empty)."""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "walsync",
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-k {self.root} -c listen_addresses='' -c port=5432 " + (_FAST if self.fast else "")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        return self.dsn

    def stop(self) -> None:
        """Fast shutdown, then remove the folder (also after a failed start)."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
