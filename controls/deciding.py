"""Coverage's fast path: of the bulk record kinds, find only the records that decide.

Evaluations and documents are most of a ledger, yet a coverage rule on them
(:func:`controls.coverage.evaluate_leaf`) only ever looks at an extreme of the
live records it matches:

* the newest by ``(observed_at, seq)`` among those for the model version
  coverage is judged for (rules bound to a model version);
* the newest by ``(observed_at, seq)`` of any version (rules not bound, or no
  version registered);
* the last appended (highest ``seq``) of any version, when none is for that
  version (the record that makes the control *stale*).

When every rule on a kind filters on the kind's subtype (``suite``,
``doc_type``) and otherwise only on ``passed`` (which the search ignores) or
``system``, the records a rule matches are a union of groups (kind, subtype,
system[, control named, for ``explicit`` rules]), and an extreme over a union
is an extreme of the groups' extremes. So loading each group's extremes, plus
any other live records, gives every rule the same answer as loading them all.

One statement finds the extremes with an index seek per group and version
(``ix_record_deciding``; the stale case scans its group); the records naming a
control of an explicit rule (few: documents, mostly) are read and reduced here.
Both skip records that are retracted or superseded, as the full load would.
The statements are plain SQL over a :class:`ledger.read_db.Reader` (``sqlite3`` on a
SQLite file, SQLAlchemy elsewhere), so neither the ORM nor the framework schema
is imported to read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.read_db import DATETIME, Reader, reader_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from frameworks.schema import Control

BULK_KINDS = frozenset({"evaluation", "document"})


@dataclass(frozen=True)
class Group:
    """Records of one kind and subtype (naming ``control``, if set) that some rule reads.

    Attributes:
        unbound: some rule on the group is not bound to a model version, so the
            newest record of any version is needed too.
    """

    kind: str
    subtype: str
    control: str | None
    unbound: bool


@dataclass(frozen=True)
class Plan:
    """The bulk kinds reduced to their deciding records, and the groups rules read.

    Attributes:
        version: also every bulk record bound to this model version (one version's trace).
        latest: bulk kinds of which each subtype's last record of the system itself (the
            highest seq in force) is loaded too: the latest run per suite that ``assure
            systems list|show`` print.
    """

    kinds: frozenset[str]
    groups: tuple[Group, ...]
    version: str | None = None
    latest: frozenset[str] = frozenset()


def plan_for(controls: Iterable[Control]) -> Plan:
    """The groups the controls' rules read, for the bulk kinds all of whose rules allow it."""
    from frameworks.schema import rule_leaves
    from ledger.projection import SUBTYPE_FIELD

    leaves = [(c.id, leaf) for c in controls for leaf in rule_leaves(c.evidence) if leaf.kind in BULK_KINDS]
    kinds = set(BULK_KINDS)
    for _, leaf in leaves:
        sub = SUBTYPE_FIELD[leaf.kind]
        if not isinstance(leaf.filters.get(sub), str) or set(leaf.filters) - {sub, "passed", "system"}:
            kinds.discard(leaf.kind)
    unbound: dict[tuple[str, str, str | None], bool] = {}
    for control_id, leaf in leaves:
        if leaf.kind in kinds:
            key = (leaf.kind, str(leaf.filters[SUBTYPE_FIELD[leaf.kind]]), control_id if leaf.explicit else None)
            unbound[key] = unbound.get(key, False) or not leaf.binds_model_version
    groups = tuple(Group(k, s, c, u) for (k, s, c), u in sorted(unbound.items(), key=lambda kv: repr(kv[0])))
    return Plan(frozenset(kinds), groups)


# The withdrawn records (retracted or superseded, decided in Python by controls.liveness:
# some withdrawals need approval) are a bound list, :dead (the Reader expands it; a
# datetime such as :as_of is bound as the column stores it).
# A group's live records received by as_of, for the correlated subqueries below.
_PICK = """SELECT r.seq FROM record r
    WHERE r.system = g.system AND r.kind = g.kind AND r.subtype = g.subtype AND r.received_at <= :as_of
      AND r.entry_hash NOT IN :dead"""
_NEWEST = "ORDER BY r.observed_at DESC, r.seq DESC LIMIT 1"
# The last appended: a scan of the group. "+ 0" keeps PostgreSQL from walking the
# primary key backwards over every system's records instead (its max() rewrite).
_LAST = _PICK.replace("SELECT r.seq FROM", "SELECT max(r.seq + 0) FROM")


@lru_cache(maxsize=32)
def _seek_statement(groups: int, versions: int) -> str:
    """Each group's extremes, one index seek each (a scan only for the stale case)."""
    rows = ", ".join(f"(:g{i}, :k{i}, :t{i}, :y{i}, :u{i})" for i in range(groups))
    sql = f"WITH g(id, kind, subtype, system, unbound) AS (VALUES {rows})"
    if not versions:
        return sql + f"\nSELECT ({_PICK} {_NEWEST}) FROM g"
    return sql + f""",
v(version) AS (VALUES {", ".join(f"(:v{i})" for i in range(versions))}),
cur AS MATERIALIZED (
    SELECT g.id, ({_PICK} AND r.model_version = v.version {_NEWEST}) AS seq FROM g CROSS JOIN v
)
SELECT seq FROM cur
UNION ALL SELECT ({_PICK} {_NEWEST}) FROM g WHERE g.unbound = 1
UNION ALL SELECT ({_LAST}) FROM g WHERE g.id IN (SELECT id FROM cur WHERE seq IS NULL)"""


# Each subtype's last live record of the system itself: a scan of its records of those kinds.
_LATEST = """SELECT max(r.seq + 0) FROM record r
    WHERE r.system = :system AND r.kind IN :kinds AND r.received_at <= :as_of AND r.entry_hash NOT IN :dead
    GROUP BY r.kind, r.subtype"""

# Live records naming a control of an explicit rule: few (documents, mostly).
_NAMING = """
SELECT r.seq, r.system, r.kind, r.subtype, c.control_id, r.model_version, r.observed_at
FROM record r JOIN record_control c ON c.seq = r.seq
WHERE r.system IN (:system, '*') AND r.kind IN :kinds AND r.subtype IN :subtypes AND r.received_at <= :as_of
  AND c.control_id IN :controls AND r.entry_hash NOT IN :dead"""
_NAMING_TYPES = (None, None, None, None, None, None, DATETIME)


class _Naming(NamedTuple):
    seq: int
    system: str
    kind: str
    subtype: str
    control_id: str
    model_version: str | None
    observed_at: dt.datetime


def deciding_seqs(
    conn: Connection | Reader, system: str, plan: Plan, *, as_of: dt.datetime, versions: Sequence[str],
    dead: Sequence[str] = (),
) -> set[int]:
    """Seqs of the records that decide every rule of ``plan`` for any of ``versions``.

    Args:
        conn: an open connection, or a :class:`ledger.read_db.Reader`.
        system: the system id (its organisation-wide ``*`` records are searched too).
        plan: the groups to search (:func:`plan_for`).
        as_of: only records received by then count.
        versions: the model versions coverage may be judged for (none: rules are
            judged unbound, as coverage does when no version is registered).
        dead: hashes of the records withdrawn (retracted or superseded) by then.
    """
    plain = [(g, s) for g in plan.groups if g.control is None for s in (system, "*")]
    explicit = {(g.kind, g.subtype, g.control): g.unbound for g in plan.groups if g.control is not None}
    reader = reader_of(conn)
    out: set[int] = set()
    if plain:
        params: dict[str, Any] = {"system": system, "as_of": as_of, "dead": list(dead)}
        for i, (g, s) in enumerate(plain):
            params |= {f"g{i}": i, f"k{i}": g.kind, f"t{i}": g.subtype, f"y{i}": s, f"u{i}": int(g.unbound)}
        params |= {f"v{i}": v for i, v in enumerate(versions)}
        out |= {seq for (seq,) in reader.rows(_seek_statement(len(plain), len(versions)), params) if seq is not None}
    if explicit:
        kinds, subtypes, controls = (sorted({key[i] for key in explicit}) for i in range(3))
        found: dict[tuple[Any, ...], list[_Naming]] = defaultdict(list)
        params = {"system": system, "as_of": as_of, "kinds": kinds, "dead": list(dead), "subtypes": subtypes,
                  "controls": controls}
        for row in map(_Naming._make, reader.rows(_NAMING, params, types=_NAMING_TYPES)):
            if (row.kind, row.subtype, row.control_id) in explicit:
                found[(row.kind, row.subtype, row.control_id, row.system)].append(row)
        for (kind, subtype, control, _), rows in found.items():
            out |= _extremes(rows, versions, unbound=explicit[(kind, subtype, control)])
    return out


def latest_seqs(
    conn: Connection | Reader, system: str, kinds: Iterable[str], *, as_of: dt.datetime, dead: Sequence[str] = (),
) -> set[int]:
    """Seqs of each (kind, subtype)'s last record of ``system`` (not its organisation-wide ones)
    received by ``as_of`` and not withdrawn (``dead``: as for :func:`deciding_seqs`)."""
    params = {"system": system, "kinds": sorted(kinds), "as_of": as_of, "dead": list(dead)}
    return {seq for (seq,) in reader_of(conn).rows(_LATEST, params)}


def _extremes(rows: list[_Naming], versions: Sequence[str], *, unbound: bool) -> set[int]:
    """What the seek statement finds for one group, from its live records."""
    def newest(r: _Naming) -> tuple[dt.datetime, int]:
        return (r.observed_at, r.seq)

    out = {max(rows, key=newest).seq} if unbound or not versions else set()
    for v in versions:
        current = [r for r in rows if r.model_version == v]
        out.add(max(current, key=newest).seq if current else max(r.seq for r in rows))
    return out
