"""What the ledger says about a system as of a point in time.

Chooses entries with the ``record`` projection (indexed SQL, never a scan of
the whole ledger): one system's records, plus organisation-wide ``system:
"*"`` records, received by the cut-off. Everything taken from an entry comes
from its signed bytes (:mod:`controls.evidence`); signers are judged by the
registry the key events make (:mod:`ledger.trusted_keys`). ``as_of`` means
"what the ledger had received by then"; the ledger is append-only, so the
answer for a past date never changes.

What is in force (corrections, retractions, reclassifications, some of which
need approval) is decided by :mod:`controls.liveness`. With ``authenticate``
(the release gate, the audit package) every signature is verified and every
entry read is proven to be in the tree of a head that extends the newest
signed checkpoint (:mod:`ledger.anchor`). This module computes no coverage;
see ``controls.coverage``.

The queries are plain SQL over a :class:`ledger.read_db.Reader`: ``sqlite3`` on a
SQLite file (the CLI's queries import no SQLAlchemy), SQLAlchemy elsewhere, with
the same SQL text and the same values.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from controls.approvals import ApprovalPolicy, Decision, decide
from controls.evidence import Evidence, evidence_from_bytes
from controls.liveness import Correction, Reclassification, resolve
from ledger.errors import NotFoundError
from ledger.read_db import Reader, reader_of
from ledger.records import KINDS, ORG_WIDE, eu_roles
from ledger.registry import Registry
from ledger.trusted_keys import load_registry

if TYPE_CHECKING:  # coverage's plan (and the framework schema it reads) only where a plan is given
    from sqlalchemy.engine import Connection

    from controls.deciding import Plan
    from ledger.anchor import Anchor

__all__ = ["Evidence", "SystemView", "build_view", "load_system", "load_systems", "system_ids"]


@dataclass
class SystemView:
    """A system and its records in force as of ``as_of``.

    Attributes:
        record: the system record whose classification is in force.
        evidence: records in force (not withdrawn), in ledger order.
        by_hash: every loaded record, in force or not.
        corrections: every retraction and correction, with its state.
        reclassifications: every later system record that changes the classification.
        versions: None when every record was loaded; else the bulk kinds hold
            only the records that decide coverage (:mod:`controls.deciding`), for
            these model versions.
        anchor: the head and checkpoint the records were proven against (only
            for an authenticated load).
    """

    system: str
    as_of: dt.datetime
    record: Evidence
    evidence: list[Evidence]
    retracted: dict[str, Evidence]
    superseded: dict[str, Evidence]
    by_hash: dict[str, Evidence]
    corrections: list[Correction] = field(default_factory=list)
    reclassifications: list[Reclassification] = field(default_factory=list)
    terms: dict[str, tuple[str, str, int]] = field(default_factory=dict, repr=False)
    versions: frozenset[str] | None = None
    anchor: Anchor | None = None

    @property
    def name(self) -> str:
        """Display name."""
        return str(self.record.fields["name"])

    @property
    def risk_tier(self) -> str:
        """Internal risk tier (low|medium|high) in force."""
        return str(self.record.fields["risk_tier"])

    @property
    def eu_class(self) -> str:
        """EU AI Act class in force."""
        return str(self.record.fields["eu_class"])

    @property
    def eu_roles(self) -> tuple[str, ...]:
        """EU AI Act roles in force (one or several, sorted)."""
        return eu_roles(self.record.fields.get("eu_role"))

    @property
    def eu_role(self) -> str:
        """EU AI Act roles in force, as people read them (``deployer+provider``)."""
        return "+".join(self.eu_roles)

    @property
    def facts(self) -> dict[str, Any]:
        """The system facts the record in force states (unknown ones left out)."""
        return {k: v for k, v in (self.record.fields.get("facts") or {}).items() if v is not None}

    @property
    def owner(self) -> str:
        """Accountable owner."""
        return str(self.record.fields["owner"])

    @property
    def pending_reclassifications(self) -> list[Reclassification]:
        """Reclassifications asked for after the classification in force, not (yet) approved."""
        return [r for r in self.reclassifications if r.state != "effective" and r.record.seq > self.record.seq]

    @property
    def pending_corrections(self) -> list[Correction]:
        """Withdrawals that wait for approval (their targets stay in force)."""
        return [c for c in self.corrections if c.state in ("pending", "rejected")]

    @cached_property
    def _by_kind(self) -> dict[str, list[Evidence]]:
        out: dict[str, list[Evidence]] = defaultdict(list)
        for e in self.evidence:
            out[e.kind].append(e)
        return out

    def of_kind(self, kind: str) -> list[Evidence]:
        """Records of one kind in force, in ledger order (indexed once per view)."""
        return self._by_kind.get(kind, [])

    @property
    def model_versions(self) -> list[Evidence]:
        """model_version records of this system in force, in ledger order."""
        return [e for e in self.of_kind("model_version") if e.system == self.system]

    @property
    def current_model_version(self) -> str | None:
        """The newest registered model version (the last one appended), if any."""
        versions = self.model_versions
        return versions[-1].model_version if versions else None

    def decide(self, target: Evidence, *, policy: ApprovalPolicy) -> Decision:
        """Where approval of ``target`` stands (a retraction and a reclassification
        follow their own rules, see :mod:`controls.liveness`)."""
        kind, tier, minimum = self.terms.get(target.entry_hash, (None, self.risk_tier, 1))
        return decide(target, self.of_kind("approval"), tier=tier, policy=policy, decision_type=kind,
                      min_approvers=minimum)


def build_view(
    system: str, rows: list[Evidence], *, as_of: dt.datetime, policy: ApprovalPolicy
) -> SystemView:
    """A :class:`SystemView` from records in ledger order (from the database or an
    audit bundle): drops anything received after ``as_of`` or of another system,
    then decides what is in force.

    Raises:
        NotFoundError: if no system record for ``system`` is among them.
    """
    rows = [e for e in rows if e.received_at <= as_of and e.system in (system, ORG_WIDE)]
    try:
        res = resolve(system, rows, policy=policy)
    except NotFoundError:
        when = as_of.strftime("%Y-%m-%d %H:%M:%SZ")
        raise NotFoundError(f"system {system!r} is not registered (as of {when}); see 'assure systems list'") from None
    return SystemView(
        system=system, as_of=as_of, record=res.registration, evidence=res.live, retracted=res.retracted,
        superseded=res.superseded, by_hash={e.entry_hash: e for e in rows}, corrections=res.corrections,
        reclassifications=res.reclassifications, terms=res.terms,
    )


def _select(where: str) -> str:
    return ("SELECT entry.seq, entry.entry_hash, entry.prev_hash, entry.leaf, payload.body FROM record "
            "JOIN entry ON entry.seq = record.seq LEFT OUTER JOIN payload ON payload.sha256 = entry.payload_sha256 "
            f"WHERE {where} ORDER BY record.seq")


@dataclass
class _Loader:
    """Builds evidence from entry rows, remembering each leaf for inclusion proofs."""

    reader: Reader
    registry: Registry
    authenticate: bool
    leaves: dict[int, bytes] = field(default_factory=dict)

    def rows(self, sql: str, params: dict[str, Any]) -> list[Evidence]:
        out = []
        for seq, ehash, prev, leaf, body in self.reader.rows(sql, params):
            leaf = bytes(leaf)
            out.append(evidence_from_bytes(seq=seq, entry_hash=bytes(ehash), prev_hash=bytes(prev), leaf=leaf,
                                           payload=None if body is None else bytes(body), registry=self.registry,
                                           verify_signatures=self.authenticate))
            if self.authenticate:
                self.leaves[seq] = leaf
        return out


# Parameters: system, org_wide, as_of, kinds, hashes, version, versions, seqs (lists are expanded by the Reader).
_SCOPE = "(record.system = :system OR record.system = :org_wide) AND record.received_at <= :as_of"
_IN_SCOPE = _select(_SCOPE)
_KINDS_IN_SCOPE = _select(f"{_SCOPE} AND record.kind IN :kinds")
_SUPERSEDING = _select(f"{_SCOPE} AND record.kind IN :kinds AND record.supersedes IS NOT NULL")
_TARGETED = _select(f"{_SCOPE} AND record.kind IN :kinds AND record.entry_hash IN :hashes")
_OF_VERSION = _select(f"{_SCOPE} AND record.kind IN :kinds AND record.model_version = :version")
_UNREGISTERED = _select(f"{_SCOPE} AND record.kind IN :kinds AND record.model_version NOT IN :versions")
_FLEET = "record.system IN :systems AND record.received_at <= :as_of"
_FLEET_KINDS = _select(f"{_FLEET} AND record.kind IN :kinds")
# Without the kinds (the caller keeps the bulk ones): with them, SQLite reads the kind index, every bulk row.
_FLEET_SUPERSEDING = _select(f"{_FLEET} AND record.supersedes IS NOT NULL")
_FLEET_TARGETED = _select(f"{_FLEET} AND record.kind IN :kinds AND record.entry_hash IN :hashes")
_BY_SEQ = _select("record.seq IN :seqs")
_SYSTEMS = ("SELECT DISTINCT record.system FROM record WHERE record.kind = :kind AND record.received_at <= :as_of "
            "ORDER BY record.system")
_CHUNK = 5_000  # bound parameters per IN list (SQLite allows 32,766 per statement)


def system_ids(conn: Connection | Reader, *, as_of: dt.datetime) -> list[str]:
    """Every system registered by ``as_of`` (``conn``: a connection or a :class:`ledger.read_db.Reader`)."""
    return [r[0] for r in reader_of(conn).rows(_SYSTEMS, {"kind": "system", "as_of": as_of})]


def load_system(
    conn: Connection | Reader, system: str, *, as_of: dt.datetime, policy: ApprovalPolicy, plan: Plan | None = None,
    any_version: bool = False, authenticate: bool = False, registry: Registry | None = None,
) -> SystemView:
    """The system's records in force (and organisation-wide ones) received by ``as_of``.

    Args:
        conn: an open connection, or a :class:`ledger.read_db.Reader` (an authenticated
            load needs one over a SQLAlchemy connection: the anchor reads through it).
        system: the system id.
        as_of: read the ledger as it stood then.
        policy: the approval policy (some corrections and every reclassification
            need approval to take effect).
        plan: bulk kinds (evaluations, documents) of which only the records that
            decide coverage are loaded (see :mod:`controls.deciding`), for the
            current model version, or with ``any_version`` for any registered one.
            Every other record is loaded, so approvals, exceptions and what is in
            force are exactly as with a full load.
        any_version: see ``plan``.
        authenticate: verify every signature and prove every entry read is in the
            tree of a head that extends the newest signed checkpoint.
        registry: the key registry (default: replayed from the key events).

    Raises:
        NotFoundError: if no system record for ``system`` existed by then.
        IntegrityError: an entry read does not check out (run ``assure verify``).
    """
    source = reader_of(conn)
    registry = registry or load_registry(source)
    anchor = _anchor(source, registry) if authenticate else None
    loader = _Loader(source, registry, authenticate)
    scope = {"system": system, "org_wide": ORG_WIDE, "as_of": as_of}
    if plan is None or not plan.kinds:
        view = build_view(system, loader.rows(_IN_SCOPE, scope), as_of=as_of, policy=policy)
    else:
        view = _load_planned(loader, system, scope, plan, any_version, policy)
    if anchor is not None:
        from ledger.anchor import prove_included

        prove_included(source.connection, anchor.head, loader.leaves)
        view = replace(view, anchor=anchor)
    return view


def load_systems(
    conn: Connection | Reader, systems: list[str], *, as_of: dt.datetime, policy: ApprovalPolicy, plan: Plan,
    registry: Registry | None = None,
) -> list[SystemView]:
    """:func:`load_system` (with ``plan``, current model version) for many systems, in fewer
    statements: what every view reads but the deciding records is read for all of them at
    once, then handed to each system as its own statements would have found it.

    Raises:
        NotFoundError, IntegrityError: as :func:`load_system`.
    """
    if plan.version is not None:
        raise ValueError("a version's view is of one system")
    source = reader_of(conn)
    registry = registry or load_registry(source)
    reader = _Loader(source, registry, authenticate=False)
    bulk = sorted(plan.kinds)
    scope = {"systems": [*systems, ORG_WIDE], "as_of": as_of}
    found = reader.rows(_FLEET_KINDS, scope | {"kinds": sorted(set(KINDS) - plan.kinds)})
    found += [e for e in reader.rows(_FLEET_SUPERSEDING, scope) if e.kind in plan.kinds]
    shared = [e for e in found if e.system == ORG_WIDE]
    own: dict[str | None, list[Evidence]] = defaultdict(list)
    for e in found:
        own[e.system].append(e)
    rows = {s: own[s] + shared for s in systems}
    # Bulk records each system's records name (never another system's: see _targets).
    named = {s: {h for e in r for h in (e.target, e.supersedes) if h} - {e.entry_hash for e in r}
             for s, r in rows.items()}
    wanted = sorted(set().union(*named.values())) if named else []
    targets: list[Evidence] = []
    for i in range(0, len(wanted), _CHUNK):
        targets += reader.rows(_FLEET_TARGETED, scope | {"kinds": bulk, "hashes": wanted[i : i + _CHUNK]})
    for e in targets:
        for s in systems if e.system == ORG_WIDE else [e.system]:
            if s in rows and e.entry_hash in named[s]:
                rows[s].append(e)
    return [_load_planned(reader, s, {"system": s, "org_wide": ORG_WIDE, "as_of": as_of}, plan, False, policy,
                          prefetched=rows[s])
            for s in systems]


def _anchor(source: Reader, registry: Registry) -> Anchor:
    from ledger.anchor import anchored_head

    if source.connection is None:
        raise ValueError("an authenticated load reads through SQLAlchemy: pass a connection (see ledger.read_db)")
    return anchored_head(source.connection, registry)


def _load_planned(
    reader: _Loader, system: str, scope: dict[str, Any], plan: Plan, any_version: bool, policy: ApprovalPolicy,
    prefetched: list[Evidence] | None = None,
) -> SystemView:
    bulk = sorted(plan.kinds)
    as_of = scope["as_of"]
    if prefetched is not None:  # read for many systems at once (load_systems)
        rows = list(prefetched)
    else:
        # The other kinds by name: index seeks, where NOT IN would read every record of the system.
        rows = reader.rows(_KINDS_IN_SCOPE, scope | {"kinds": sorted(set(KINDS) - plan.kinds)})
        # The bulk records that supersede another (corrections, usually few).
        rows += reader.rows(_SUPERSEDING, scope | {"kinds": bulk})
        # Bulk records that approvals, retractions and corrections name: what is in force depends on them.
        rows += _targets(reader, rows, scope, bulk)
    rows.sort(key=lambda e: e.seq)
    base = build_view(system, rows, as_of=as_of, policy=policy)
    if plan.version is not None:
        rows += _of_version(reader, rows, scope, bulk, plan.version, base)
    if any_version:
        versions = list(dict.fromkeys(v.model_version for v in base.model_versions if v.model_version))
    else:
        versions = [base.current_model_version] if base.current_model_version else []
    dead = sorted(base.retracted.keys() | base.superseded.keys())
    loaded = {e.seq for e in rows}
    from controls.deciding import deciding_seqs, latest_seqs

    wanted = deciding_seqs(reader.reader, system, plan, as_of=as_of, versions=versions, dead=dead)
    if plan.latest:
        wanted |= latest_seqs(reader.reader, system, plan.latest, as_of=as_of, dead=dead)
    ordered = sorted(wanted - loaded)
    for i in range(0, len(ordered), _CHUNK):  # thousands with any_version and many versions
        rows += reader.rows(_BY_SEQ, {"seqs": ordered[i : i + _CHUNK]})
    rows.sort(key=lambda e: e.seq)
    return replace(build_view(system, rows, as_of=as_of, policy=policy), versions=frozenset(versions))


def _of_version(
    reader: _Loader, rows: list[Evidence], scope: dict[str, Any], bulk: list[str], version: str, base: SystemView
) -> list[Evidence]:
    """The bulk records bound to ``version``, and those bound to no registered version (a trace's
    broken links), that are not among ``rows`` yet."""
    registered = sorted({v.model_version for v in base.model_versions if v.model_version})
    have = {e.seq for e in rows}
    found = reader.rows(_OF_VERSION, scope | {"kinds": bulk, "version": version})
    found += reader.rows(_UNREGISTERED, scope | {"kinds": bulk, "versions": registered})
    out = []
    for e in found:
        if e.seq not in have:
            have.add(e.seq)
            out.append(e)
    return out


def _targets(reader: _Loader, rows: list[Evidence], scope: dict[str, Any], bulk: list[str]) -> list[Evidence]:
    named = {h for e in rows for h in (e.target, e.supersedes) if h} - {e.entry_hash for e in rows}
    if not named:
        return []
    return reader.rows(_TARGETED, scope | {"kinds": bulk, "hashes": sorted(named)})


def group_by(items: Iterable[Evidence], key: str) -> dict[Any, list[Evidence]]:
    """Group evidence by an attribute, keeping ledger order inside each group."""
    out: dict[Any, list[Evidence]] = defaultdict(list)
    for e in items:
        out[getattr(e, key)].append(e)
    return out
