"""Evidence records per signer role as of a time: the automation KPI's figures.

Counting them reads every record of the ledger (a million rows take seconds), and a
page or a monitor asks for "now" again and again while the ledger only grows. Receive
times never go backwards along the ledger (``ledger.time_rules``, checked by append
and verify), so when ``as_of`` is at or after the newest record's receive time, every
record counts, and the count up to an earlier size plus the rows appended since is
the whole count. A process keeps its last count per database and adds only the new
rows; a ledger that is not the one counted (another file at the same URL, rows gone)
is counted afresh. Earlier ``as_of`` times are counted in full.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ledger import models as m

EVIDENCE_KINDS = frozenset({"model_version", "evaluation", "risk_assessment", "incident", "document", "approval",
                            "exception"})
"""The kinds counted as evidence (key events, system records, withdrawals are not)."""

_KINDS = ", ".join(f"'{k}'" for k in sorted(EVIDENCE_KINDS))
_RECEIVED = m.Record.__table__.c.received_at.type  # type: ignore[attr-defined]
_NEWEST = text("SELECT seq, entry_hash, received_at FROM record ORDER BY seq DESC LIMIT 1").columns(
    received_at=_RECEIVED)
_HASH_AT = text("SELECT entry_hash FROM record WHERE seq = :seq")
# The kind is tested in the select list, so the rows are found by the primary key's range (with
# the kind in WHERE, SQLite reads the kind index: every evidence row of the ledger).
_SINCE = text(f"SELECT signer_role, sum(CASE WHEN kind IN ({_KINDS}) THEN 1 ELSE 0 END) FROM record "
              "WHERE seq > :after GROUP BY signer_role")
# as_of bound through the column's type: stored-format text on SQLite.
_UNTIL = text(f"SELECT signer_role, count(*) FROM record WHERE received_at <= :as_of AND kind IN ({_KINDS}) "
              "GROUP BY signer_role").bindparams(bindparam("as_of", type_=_RECEIVED))


@dataclass(frozen=True)
class _Counted:
    seq: int
    entry_hash: str
    roles: Counter[str]


_LOCK = threading.Lock()
_COUNTED: dict[str, _Counted] = {}


def evidence_by_role(conn: Connection, *, as_of: dt.datetime) -> Counter[str]:
    """Evidence records received by ``as_of``, per signer role (in ``conn``'s snapshot)."""
    newest = conn.execute(_NEWEST).first()
    if newest is None:
        return Counter()
    if newest.received_at > as_of:
        return _count(conn, _UNTIL, {"as_of": as_of})
    key = str(conn.engine.url)
    with _LOCK:
        known = _COUNTED.get(key)
    if known is not None and known.seq <= newest.seq \
            and conn.execute(_HASH_AT, {"seq": known.seq}).scalar() == known.entry_hash:
        roles = known.roles + _count(conn, _SINCE, {"after": known.seq})
    else:
        roles = _count(conn, _SINCE, {"after": -1})
    with _LOCK:
        _COUNTED[key] = _Counted(newest.seq, newest.entry_hash, roles)
    return Counter(roles)


def _count(conn: Connection, stmt: Any, params: dict[str, Any]) -> Counter[str]:
    return Counter({role: int(n) for role, n in conn.execute(stmt, params) if n})
