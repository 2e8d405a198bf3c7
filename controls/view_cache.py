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

An ``as_of`` before the newest entry's receipt (a page's as-of date) reads only entries
received by then: a prefix of the ledger that entries appended later do not change. The
views of the last :data:`PAST_KEPT` such moments are kept, each until the entry it was
read up to is gone or rewritten, or a key event is appended (the registry that judges
signers is replayed from every key event).

Everything is read in the caller's read transaction, one snapshot, as a fresh load reads.
A database writer who rewrites an older entry and leaves the newest alone is not noticed
here (a fresh load, unauthenticated like this one, would show the rewritten bytes instead);
``assure verify`` finds it, and the release gate and packages read authenticated entries.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from controls.state import SystemView, system_ids
from ledger.read_db import DATETIME, Reader
from ledger.records import KEY_KINDS, ORG_WIDE

_NEWEST = ("SELECT entry.seq, entry.entry_hash, record.received_at FROM entry "
           "LEFT OUTER JOIN record ON record.seq = entry.seq ORDER BY entry.seq DESC LIMIT 1")
_HASH_AT = "SELECT entry.entry_hash FROM entry WHERE entry.seq = :seq"
_APPENDED = "SELECT record.system, record.kind FROM record WHERE record.seq > :seq ORDER BY record.seq"  # the key range
_KEY_EVENT_SINCE = "SELECT record.seq FROM record WHERE record.kind IN :kinds AND record.seq > :seq LIMIT 1"

Loader = Callable[[list[str]], list[SystemView]]
"""Loads the views of the given systems, in that order, in the caller's transaction."""

PAST_KEPT = 4
"""Earlier moments whose views are kept (each as large as the present's: some MiB per 100 systems)."""


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
        self._past: OrderedDict[tuple[str, Hashable, dt.datetime], _Kept] = OrderedDict()

    def views(self, reader: Reader, *, as_of: dt.datetime, key: Hashable, load: Loader) -> list[SystemView] | None:
        """Every registered system's view as of ``as_of``, in system order (None for an empty ledger).

        Args:
            reader: the caller's read transaction.
            as_of: the moment the views describe.
            key: what else the views depend on: the plan and the policy (compared by equality).
            load: loads views from scratch, in the same transaction.
        """
        newest = reader.rows(_NEWEST, types=(None, None, DATETIME))
        if not newest or newest[0][2] is None:
            return None
        seq, entry_hash, received = newest[0]
        now = _Kept(seq, bytes(entry_hash), {})
        with self._lock:
            if as_of < received:
                return self._past_views(reader, (reader.database, key, as_of), now, load)
            slot = (reader.database, key)
            kept = self._kept.get(slot)
            appended = _appended_since(reader, kept)
            stale = None if appended is None or any(k in KEY_KINDS or s == ORG_WIDE for s, k in appended) else {
                s for s, _ in appended}
            ids = system_ids(reader, as_of=as_of)
            todo = [s for s in ids if kept is None or stale is None or s in stale or s not in kept.views]
            views = dict(zip(todo, load(todo), strict=True)) if todo else {}
            if kept is not None:
                views = {s: views[s] if s in views else kept.views[s] for s in ids}
            self._kept[slot] = replace(now, views=views)
        return [replace(views[s], as_of=as_of) for s in ids]

    def _past_views(self, reader: Reader, slot: tuple[str, Hashable, dt.datetime], now: _Kept,
                    load: Loader) -> list[SystemView]:
        """The views at an earlier moment: kept ones while no key event and no rewrite came since."""
        kept = self._past.get(slot)
        if kept is not None and _unchanged(reader, kept) and not reader.rows(
                _KEY_EVENT_SINCE, {"kinds": sorted(KEY_KINDS), "seq": kept.seq}):
            self._past.move_to_end(slot)
            return list(kept.views.values())
        ids = system_ids(reader, as_of=slot[2])
        views = dict(zip(ids, load(ids), strict=True)) if ids else {}
        self._past[slot] = replace(now, views=views)
        self._past.move_to_end(slot)
        while len(self._past) > PAST_KEPT:
            self._past.popitem(last=False)
        return list(views.values())


def _appended_since(reader: Reader, kept: _Kept | None) -> list[tuple[str | None, str]] | None:
    """(system, kind) of every record appended since ``kept`` was read; None if nothing is kept,
    or the entry it was read up to is gone or rewritten."""
    if kept is None or not _unchanged(reader, kept):
        return None
    return [(system, kind) for system, kind in reader.rows(_APPENDED, {"seq": kept.seq})]


def _unchanged(reader: Reader, kept: _Kept) -> bool:
    """The entry ``kept`` was read up to is still there, with the same hash."""
    at = reader.rows(_HASH_AT, {"seq": kept.seq})
    return bool(at) and bytes(at[0][0]) == kept.entry_hash
