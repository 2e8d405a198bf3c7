"""What the ledger says about a system as of a point in time.

Reads the projections (``record``, ``record_control``, ``key_registry``) and the
payloads with indexed SQL, never scanning the whole ledger: one system's records
(plus organisation-wide ``system: "*"`` records) up to the cut-off. ``as_of``
means "what the ledger had received by then"; the ledger is append-only, so the
answer for a past date never changes.

A record counts as *live* evidence unless a retraction or a superseding record
(received by ``as_of``) names it. This module computes no coverage; see
``controls.coverage``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Connection

from controls.deciding import Plan, deciding_seqs
from ledger import models as m
from ledger.canonical import parse_json
from ledger.errors import NotFoundError
from ledger.records import KINDS, ORG_WIDE
from ledger.timeutil import format_timestamp


@dataclass(frozen=True)
class Evidence:
    """One ledger record as coverage sees it."""

    seq: int
    entry_hash: str
    kind: str
    system: str | None
    observed_at: dt.datetime
    received_at: dt.datetime
    valid_until: dt.datetime | None
    model_version: str | None
    passed: bool | None
    target: str | None
    supersedes: str | None
    expires_at: dt.datetime | None
    signer_key_id: str
    signer_role: str
    signer_owner: str
    fields: dict[str, Any] = field(compare=False, repr=False)

    @property
    def controls(self) -> list[str]:
        """The control ids the record names."""
        return list(self.fields.get("controls") or [])

    def ref(self) -> dict[str, Any]:
        """A short JSON reference: seq, hash, kind, when, who."""
        return {
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "kind": self.kind,
            "observed_at": format_timestamp(self.observed_at),
            "signer": self.signer_owner,
            "signer_role": self.signer_role,
        }


@dataclass
class SystemView:
    """A system and its live records as of ``as_of``.

    Attributes:
        by_hash: every loaded record, live or not.
        versions: None when every record was loaded; else the bulk kinds hold
            only the records that decide coverage (:mod:`controls.deciding`), for
            these model versions.
    """

    system: str
    as_of: dt.datetime
    record: Evidence
    evidence: list[Evidence]
    retracted: dict[str, Evidence]
    superseded: dict[str, Evidence]
    by_hash: dict[str, Evidence]
    versions: frozenset[str] | None = None

    @property
    def name(self) -> str:
        """Display name."""
        return str(self.record.fields["name"])

    @property
    def risk_tier(self) -> str:
        """Internal risk tier (low|medium|high)."""
        return str(self.record.fields["risk_tier"])

    @property
    def eu_class(self) -> str:
        """EU AI Act class."""
        return str(self.record.fields["eu_class"])

    @property
    def eu_role(self) -> str:
        """EU AI Act role (provider|deployer|none)."""
        return str(self.record.fields["eu_role"])

    @property
    def owner(self) -> str:
        """Accountable owner."""
        return str(self.record.fields["owner"])

    @cached_property
    def _by_kind(self) -> dict[str, list[Evidence]]:
        out: dict[str, list[Evidence]] = defaultdict(list)
        for e in self.evidence:
            out[e.kind].append(e)
        return out

    def of_kind(self, kind: str) -> list[Evidence]:
        """Live records of one kind, in ledger order (indexed once per view)."""
        return self._by_kind.get(kind, [])

    @property
    def model_versions(self) -> list[Evidence]:
        """Live model_version records of this system, in ledger order."""
        return [e for e in self.of_kind("model_version") if e.system == self.system]

    @property
    def current_model_version(self) -> str | None:
        """The newest registered model version (the last one appended), if any."""
        versions = self.model_versions
        return versions[-1].model_version if versions else None


_COLUMNS = (
    m.Record.seq, m.Record.entry_hash, m.Record.kind, m.Record.system, m.Record.observed_at,
    m.Record.received_at, m.Record.valid_until, m.Record.model_version, m.Record.passed,
    m.Record.target, m.Record.supersedes, m.Record.expires_at, m.Record.signer_key_id,
    m.Record.signer_role,
)


def _select(where: Any) -> Any:
    return (
        select(*_COLUMNS, m.KeyRegistry.owner, m.Payload.body)  # type: ignore[call-overload]
        .join(m.Entry, m.Entry.seq == m.Record.seq)
        .join(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .join(m.KeyRegistry, m.KeyRegistry.key_id == m.Record.signer_key_id)
        .where(where)
        .order_by(m.Record.seq)
    )


def _rows(conn: Connection, stmt: Any, params: dict[str, Any] | None = None) -> list[Evidence]:
    out = []
    for row in conn.execute(stmt, params or {}):
        *cols, owner, body = row
        out.append(Evidence(*cols, signer_owner=owner, fields=parse_json(body) if body else {}))
    return out


# Statements built once (parameters: system, as_of, kinds, hashes, seqs): a view is read often.
_SCOPE = and_(or_(m.Record.system == bindparam("system"), m.Record.system == ORG_WIDE),
              m.Record.received_at <= bindparam("as_of"))
_OF_KINDS = m.Record.kind.in_(bindparam("kinds", expanding=True))  # type: ignore[attr-defined]
_IN_SCOPE = _select(_SCOPE)
_KINDS_IN_SCOPE = _select(and_(_SCOPE, _OF_KINDS))
_SUPERSEDING = _select(and_(_SCOPE, _OF_KINDS, m.Record.supersedes.is_not(None)))  # type: ignore[union-attr]
_TARGETED = _select(and_(_SCOPE, _OF_KINDS, m.Record.entry_hash.in_(bindparam("hashes", expanding=True))))  # type: ignore[attr-defined]
_BY_SEQ = _select(m.Record.seq.in_(bindparam("seqs", expanding=True)))  # type: ignore[attr-defined]
_CHUNK = 5_000  # bound parameters per IN list (SQLite allows 32,766 per statement)


def system_ids(conn: Connection, *, as_of: dt.datetime) -> list[str]:
    """Every system registered by ``as_of``."""
    stmt = (
        select(m.Record.system)
        .where(m.Record.kind == "system", m.Record.received_at <= as_of)
        .distinct()
        .order_by(m.Record.system)
    )
    return [r[0] for r in conn.execute(stmt)]


def load_system(
    conn: Connection, system: str, *, as_of: dt.datetime, plan: Plan | None = None, any_version: bool = False
) -> SystemView:
    """The system's live records (and organisation-wide ones) received by ``as_of``.

    Args:
        conn: an open connection.
        system: the system id.
        as_of: read the ledger as it stood then.
        plan: bulk kinds (evaluations, documents) of which only the records that
            decide coverage are loaded (see :mod:`controls.deciding`), for the
            current model version, or with ``any_version`` for any registered one.
            Every other record is loaded, so approvals, exceptions and liveness
            are exactly as with a full load.
        any_version: see ``plan``.

    Raises:
        NotFoundError: if no system record for ``system`` existed by then.
    """
    scope = {"system": system, "as_of": as_of}
    if plan is None or not plan.kinds:
        return build_view(system, _rows(conn, _IN_SCOPE, scope), as_of=as_of)
    bulk = sorted(plan.kinds)
    # The other kinds by name: index seeks, where NOT IN would read every record of the system.
    rows = _rows(conn, _KINDS_IN_SCOPE, scope | {"kinds": sorted(set(KINDS) - plan.kinds)})
    # The bulk records that supersede another (corrections, usually few) keep the liveness
    # of every loaded record exact.
    rows += _rows(conn, _SUPERSEDING, scope | {"kinds": bulk})
    base = build_view(system, sorted(rows, key=lambda e: e.seq), as_of=as_of)
    if any_version:
        versions = list(dict.fromkeys(v.model_version for v in base.model_versions if v.model_version))
    else:
        versions = [base.current_model_version] if base.current_model_version else []
    seqs = deciding_seqs(conn, system, plan, as_of=as_of, versions=versions) - {e.seq for e in rows}
    # Bulk records that approvals target: approval decisions read them.
    targets = {a.target for a in base.of_kind("approval") if a.target} - base.by_hash.keys()
    ordered = sorted(seqs)
    for i in range(0, len(ordered), _CHUNK):  # thousands with any_version and many versions
        rows += _rows(conn, _BY_SEQ, {"seqs": ordered[i : i + _CHUNK]})
    if targets:
        rows += [e for e in _rows(conn, _TARGETED, scope | {"kinds": bulk, "hashes": sorted(targets)})
                 if e.seq not in seqs]
    return replace(build_view(system, sorted(rows, key=lambda e: e.seq), as_of=as_of), versions=frozenset(versions))


def build_view(system: str, rows: list[Evidence], *, as_of: dt.datetime) -> SystemView:
    """A :class:`SystemView` from records in ledger order (from the database or an
    audit bundle): drops what is retracted or superseded, and anything received
    after ``as_of``.

    Raises:
        NotFoundError: if no system record for ``system`` is among them.
    """
    rows = [e for e in rows if e.received_at <= as_of and e.system in (system, ORG_WIDE)]
    retracted = {e.target: e for e in rows if e.kind == "retract" and e.target}
    superseded = {e.supersedes: e for e in rows if e.supersedes and e.entry_hash not in retracted}
    live = [e for e in rows if e.entry_hash not in retracted and e.entry_hash not in superseded
            and e.kind != "retract"]
    registrations = [e for e in live if e.kind == "system" and e.system == system]
    if not registrations:
        when = as_of.strftime("%Y-%m-%d %H:%M:%SZ")
        raise NotFoundError(f"system {system!r} is not registered (as of {when}); see 'assure systems list'")
    return SystemView(
        system=system,
        as_of=as_of,
        record=registrations[-1],
        evidence=live,
        retracted=retracted,
        superseded=superseded,
        by_hash={e.entry_hash: e for e in rows},
    )


def evidence_from_entry(
    *, seq: int, entry_hash: str, kind: str, payload: bytes, received_at: dt.datetime,
    signer_key_id: str, signer_role: str, signer_owner: str,
) -> Evidence:
    """An :class:`Evidence` built from an entry's signed payload (no database), the way
    the ``record`` projection is built at append. Used to recompute coverage offline."""
    from ledger.records import parse_record_bytes
    from ledger.registry import KeyState
    from ledger.store import projection_row

    record = parse_record_bytes(payload, source=f"entry {seq}")
    signer = KeyState(signer_key_id, b"", signer_role, signer_owner, 0, received_at)
    row = projection_row(record, seq=seq, entry_hash=bytes.fromhex(entry_hash), received_at=received_at, signer=signer)
    if row["kind"] != kind:
        raise ValueError(f"entry {seq}: payload kind {row['kind']!r} is not the leaf kind {kind!r}")
    cols = {c.key: row[c.key] for c in _COLUMNS}  # the same columns a database read selects
    return Evidence(**cols, signer_owner=signer_owner, fields=parse_json(payload))


def group_by(items: list[Evidence], key: str) -> dict[Any, list[Evidence]]:
    """Group evidence by an attribute, keeping ledger order inside each group."""
    out: dict[Any, list[Evidence]] = defaultdict(list)
    for e in items:
        out[getattr(e, key)].append(e)
    return out
