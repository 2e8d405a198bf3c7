"""``assure verify``'s second look at every entry: the rules append enforced, re-checked.

Append refuses records that break a rule (:mod:`ledger.record_rules`,
:mod:`ledger.time_rules`, :mod:`ledger.references`); a database writer who
inserts rows behind its back is not stopped by that, so verify applies the same
rules to every stored entry:

* per entry, in the checking workers (:func:`entry_rule_failure`): the record's
  own rules, and ``observed_at`` no later than ``received_at`` plus the skew;
* across entries, in the main process, from compact facts each worker returns
  per chunk (:class:`ChunkFacts`): a system is registered before evidence names
  it, a model version before a record names it, and receive times never go
  backwards;
* references (``target``, ``supersedes``; rare) are collected and checked once
  the entries are read, from the referenced entries' signed bytes;
* every ``scope_index`` entry commits the scope index of the entries before it
  (:mod:`ledger.scope_index`), recomputed here from per-chunk scope counts.

Memory stays bounded by the number of systems, model versions and references,
not by the number of entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from ledger.record_rules import ORG_WIDE, record_problem
from ledger.references import (
    MODEL_VERSION_REFS,
    load_facts,
    reference_problem,
    submitter_owners,
)
from ledger.registry import Registry
from ledger.scope_index import ScopeCounter, scope_of
from ledger.time_rules import observed_problem

Failure = tuple[int, str]
"""seq, reason."""


@dataclass(frozen=True)
class Reference:
    """An entry that names another in ``field``."""

    seq: int
    kind: str
    system: str | None
    field: str
    target: str
    keyids: tuple[str, ...]


@dataclass
class ChunkFacts:
    """What the cross-entry rules need from one chunk of entries (built in a worker)."""

    systems: dict[str, int] = field(default_factory=dict)  # system -> first seq registering it
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, version) -> first seq
    uses_system: dict[str, int] = field(default_factory=dict)  # system -> first seq naming it
    uses_version: dict[tuple[str, str], int] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    scopes: ScopeCounter = field(default_factory=ScopeCounter)
    index: tuple[int, int, str] | None = None
    """A scope index entry (seq, size, root hex) to check against every entry before it."""

    @classmethod
    def ledger_event(cls, seq: int, kind: str, entry_hash: bytes, record: Any) -> ChunkFacts:
        """The facts of a key event or scope index entry (checked in the main process)."""
        facts = cls()
        if kind == "scope_index":
            facts.index = (seq, record.size, record.root)
        facts.scopes.add(scope_of(kind, None), seq, entry_hash.hex())
        return facts

    def add(self, seq: int, kind: str, obj: dict[str, Any], keyids: Sequence[str], entry_hash: bytes) -> None:
        """Note the facts of one entry (a record about a system)."""
        system = obj.get("system")
        self.scopes.add(scope_of(kind, system), seq, entry_hash.hex())
        if kind == "system":
            self.systems.setdefault(system, seq)
        elif system != ORG_WIDE:
            self.uses_system.setdefault(system, seq)
        if kind == "model_version":
            self.versions.setdefault((system, obj.get("version")), seq)
        elif kind in MODEL_VERSION_REFS and obj.get("model_version") is not None:
            self.uses_version.setdefault((system, obj["model_version"]), seq)
        for name in ("target", "supersedes"):
            if obj.get(name):
                self.references.append(Reference(seq, kind, system, name, obj[name], tuple(keyids)))


def entry_rule_failure(obj: dict[str, Any], received_at: dt.datetime, *, max_skew: dt.timedelta) -> str | None:
    """The first per-entry rule a stored record breaks, or None."""
    problem = record_problem(obj)
    if problem:
        return f"field '{problem[0]}': {problem[1]} (append refuses this)"
    try:
        observed = dt.datetime.fromisoformat(str(obj["observed_at"]))
    except (KeyError, ValueError) as e:
        return f"field 'observed_at' is malformed: {e}"
    why = observed_problem(observed, received_at, max_skew=max_skew)
    return f"field 'observed_at': {why}" if why else None


@dataclass
class RuleState:
    """The main process's side: registrations so far and the references to check at the end."""

    systems: dict[str, int] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    scopes: ScopeCounter = field(default_factory=ScopeCounter)

    def merge(self, facts: ChunkFacts) -> Failure | None:
        """Fold in a chunk's facts (chunks in ledger order); the first rule broken, if any."""
        if facts.index is not None:
            seq, size, root = facts.index
            if size != seq:
                return seq, f"field 'size': a scope index at entry {seq} says {size} (append refuses this)"
            if self.scopes.root().hex() != root:
                return seq, ("field 'root': the scope index does not match the entries before it "
                             "(a false completeness claim)")
        self.scopes.merge(facts.scopes)
        for k, seq in facts.systems.items():
            self.systems.setdefault(k, seq)
        for kv, seq in facts.versions.items():
            self.versions.setdefault(kv, seq)
        self.references.extend(facts.references)
        failures = [  # (seq, order of the check at append, reason)
            (seq, 0, f"field 'system': system {s!r} is not registered before this entry")
            for s, seq in facts.uses_system.items() if self.systems.get(s, seq) >= seq
        ] + [
            (seq, 1, f"field 'model_version': model version {v!r} of {s!r} is not registered before this entry")
            for (s, v), seq in facts.uses_version.items() if self.versions.get((s, v), seq) >= seq
        ]
        if not failures:
            return None
        seq, _, reason = min(failures)
        return seq, reason

    def check_references(self, conn: Connection, registry: Registry) -> Failure | None:
        """Check every collected reference against the referenced entry's signed bytes."""
        targets = load_facts(conn, {r.target for r in self.references})
        for r in sorted(self.references, key=lambda r: r.seq):
            ref = targets.get(r.target)
            if ref is None or ref.seq >= r.seq:
                return r.seq, f"field '{r.field}': names no earlier entry ({r.target[:16]}…)"
            signers = [k for k in (registry.get(i) for i in r.keyids) if k is not None]
            why = reference_problem(kind=r.kind, system=r.system, field=r.field, ref=ref, signers=signers,
                                    target_owners=submitter_owners(ref.signer_key_ids, registry))
            if why:
                return r.seq, f"field '{r.field}': {why} (append refuses this)"
        return None
