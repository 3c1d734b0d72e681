"""The library's source files, for the tests that read code (imports, SQL, TLS settings, docs)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "projections", "adapters")


def library_sources(*, with_init: bool = True) -> list[Path]:
    """Every .py file of the three installed folders, subpackages included, in path order."""
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                  if with_init or p.name != "__init__.py")


def module_name(path: Path) -> str:
    """`walsync.adapters.store.sqlite` for adapters/store/sqlite.py (a package for __init__.py)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("walsync", *parts))
