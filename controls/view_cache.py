"""Every system's coverage view kept between a server's requests, brought up to date with
what was appended since, so a page over the whole fleet does not reload it each time.

What a view holds is a function of: the system's own and the organisation-wide records
received by ``as_of``; the key registry the key events make (signers are judged by it);
the approval policy; and the plan of what to load (:mod:`controls.deciding`). The view
carries ``as_of``, but nothing it holds depends on it otherwise (see
:func:`controls.state.load_system`). Entries are received in order (append refuses a
clock behind the last entry's, :mod:`ledger.time_rules`), so for any ``as_of`` at or after
the newest entry's receipt the records are all of them, and the view loaded at one such
moment is the view at another with ``as_of`` replaced.

So a request at such an ``as_of``:

* finds the views kept at the same newest entry: reuses them all;
* finds the ledger grown past the kept newest entry (still there, same hash): reloads
  the systems that records were appended for (a newly registered system is one of them),
  and every system if an organisation-wide record or a key event was appended;
* otherwise (nothing kept, another plan or policy, the kept entry gone or rewritten):
  loads every view.

An ``as_of`` before the newest entry's receipt is not answered here (the caller loads).
Everything is read in the caller's read transaction, one snapshot, as a fresh load reads.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from controls.state import SystemView, system_ids
from ledger.read_db import DATETIME, Reader
from ledger.records import KEY_KINDS, ORG_WIDE

_NEWEST = ("SELECT entry.seq, entry.entry_hash, record.received_at FROM entry "
           "LEFT OUTER JOIN record ON record.seq = entry.seq ORDER BY entry.seq DESC LIMIT 1")
_HASH_AT = "SELECT entry.entry_hash FROM entry WHERE entry.seq = :seq"
_APPENDED = "SELECT record.system, record.kind FROM record WHERE record.seq > :seq ORDER BY record.seq"  # the key range

Loader = Callable[[list[str]], list[SystemView]]
"""Loads the views of the given systems, in that order, in the caller's transaction."""


@dataclass(frozen=True)
class _Kept:
    seq: int
    entry_hash: bytes
    views: dict[str, SystemView]


class ViewCache:
    """The views of one server process, per database and per (plan, policy) key (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, Hashable], _Kept] = {}

    def views(self, reader: Reader, *, as_of: dt.datetime, key: Hashable, load: Loader) -> list[SystemView] | None:
        """Every registered system's view as of ``as_of``, in system order; None if ``as_of``
        is before the newest entry's receipt (or the ledger is empty).

        Args:
            reader: the caller's read transaction.
            as_of: the moment the views describe.
            key: what else the views depend on: the plan and the policy (compared by equality).
            load: loads views from scratch, in the same transaction.
        """
        newest = reader.rows(_NEWEST, types=(None, None, DATETIME))
        if not newest or newest[0][2] is None or as_of < newest[0][2]:
            return None
        seq, entry_hash, _ = newest[0]
        slot = (reader.database, key)
        with self._lock:
            kept = self._kept.get(slot)
            stale = self._appended_for(reader, kept)
            ids = system_ids(reader, as_of=as_of)
            todo = [s for s in ids if kept is None or stale is None or s in stale or s not in kept.views]
            views = dict(zip(todo, load(todo), strict=True)) if todo else {}
            if kept is not None:
                views = {s: views[s] if s in views else kept.views[s] for s in ids}
            self._kept[slot] = _Kept(seq, bytes(entry_hash), views)
        return [replace(views[s], as_of=as_of) for s in ids]

    @staticmethod
    def _appended_for(reader: Reader, kept: _Kept | None) -> set[str] | None:
        """The systems records were appended for since ``kept`` (None: every system must reload)."""
        if kept is None:
            return None
        at = reader.rows(_HASH_AT, {"seq": kept.seq})
        if not at or bytes(at[0][0]) != kept.entry_hash:
            return None
        out = set()
        for system, kind in reader.rows(_APPENDED, {"seq": kept.seq}):
            if kind in KEY_KINDS or system == ORG_WIDE:
                return None
            out.add(system)
        return out
