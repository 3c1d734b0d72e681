"""Rows this walsync cannot read (an unknown event type, a newer schema version): never dropped
silently. The live store refuses such a log; read-only diagnosis (`why`, `status`, `replay`)
leaves them out of its fold, counts them and names their seqs.

A stream is folded only up to its first unreadable row: its later rows are held back too
(and reported), since folding them over a gap would invent a history (or fail the
transition table) instead of showing the last state this code can vouch for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from attrs import define, field

from walsync.adapters.ports import StoredEvent
from walsync.core.upcast import readable

__all__ = ["Unreadable"]

_SHOWN = 10


def _seqs(seqs: list[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:_SHOWN])
    return shown + (f" and {len(seqs) - _SHOWN} more" if len(seqs) > _SHOWN else "")


@define
class Unreadable:
    """A collector: pass rows through `known`, then print `note()` next to the diagnosis."""

    seqs: list[int] = field(factory=list)
    kinds: Counter[str] = field(factory=Counter)
    held: list[int] = field(factory=list)
    streams: set[str] = field(factory=set)

    def known(self, rows: Iterable[StoredEvent]) -> Iterator[StoredEvent]:
        """The rows this code can fold; the others (and their streams' later rows) are noted."""
        for row in rows:
            if not readable(row.type, row.schema_version):
                self.seqs.append(row.seq)
                self.kinds[f"{row.type} v{row.schema_version}"] += 1
                self.streams.add(row.stream)
            elif row.stream in self.streams:
                self.held.append(row.seq)
            else:
                yield row

    def note(self) -> str | None:
        """'N events of unknown type/version at seq ...', or None when every row was read."""
        if not self.seqs:
            return None
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.kinds.items()))
        text = f"{len(self.seqs)} events of unknown type/version at seq {_seqs(self.seqs)} ({kinds})"
        if self.held:
            text += (f"; {len(self.held)} later events of their streams "
                     f"({', '.join(sorted(self.streams))}) held back at seq {_seqs(self.held)}")
        return text + ": left out of this read-only diagnosis; upgrade walsync to read them"
