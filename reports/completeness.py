"""Proving a bundle left nothing out: its scopes' entries against a committed scope index.

The bundle names a ``scope_index`` entry it carries (whose signature and
inclusion in the package checkpoint :mod:`reports.entries` has verified), and
for each package scope (the system, ``*`` and ``keys``) that index's leaf with
an inclusion proof in the index tree. The tree's size and root come from the
signed index record, not from the bundle. For each scope the bundle must then
hold exactly ``count`` entries of that scope below the index, the last being
``last_seq`` with ``last_entry_hash``: a record left out (or hidden from the
producer by an edited projection) is a finding. Entries of the scopes after the
index are carried and proven present; completeness is claimed up to the index.

This module reads no database; the package builder runs it on its own bundle
before signing, and ``assure verify-package`` runs it on the auditor's copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.records import ORG_WIDE
from ledger.scope_index import KEYS_SCOPE, scope_of
from reports.bundle import Bundle
from reports.entries import CheckedEntry
from reports.errors import Finding


def package_scopes(system: str) -> tuple[str, ...]:
    """The scopes a package of ``system`` must prove complete."""
    return (system, ORG_WIDE, KEYS_SCOPE)


@dataclass
class CompletenessCheck:
    """What :func:`check_completeness` found.

    Attributes:
        up_to: the index size completeness is proven up to (None: not proven).
        findings: what failed.
    """

    up_to: int | None = None
    findings: list[Finding] = field(default_factory=list)


def check_completeness(bundle: Bundle, checked: list[CheckedEntry]) -> CompletenessCheck:
    """Check the bundle's completeness proof against its verified entries."""
    out = CompletenessCheck()
    proof = bundle.completeness
    if proof is None:
        out.findings.append(Finding("completeness", "the bundle carries no scope index proof: it cannot show "
                                    "that no record was left out (a format 1 package)"))
        return out
    index = next((c for c in checked if c.entry.seq == proof.index_seq), None)
    if index is None or index.leaf.kind != "scope_index":
        out.findings.append(Finding("completeness", f"entry {proof.index_seq} is not a verified scope index "
                                    "entry of this bundle"))
        return out
    size, root, tree = index.record.size, bytes.fromhex(index.record.root), index.record.scopes  # type: ignore[union-attr]
    by_scope = {p.leaf.scope: p for p in proof.scopes}
    for scope in package_scopes(bundle.system):
        where = f"completeness[{scope}]"
        p = by_scope.get(scope)
        if p is None:
            out.findings.append(Finding(where, "no leaf of the scope index is given for this scope"))
            continue
        try:
            verify_inclusion(leaf_hash(p.leaf.to_bytes()), p.index, tree, p.proof, root)
        except ProofError as e:
            out.findings.append(Finding(where, f"the scope's leaf is not in the signed scope index: {e.reason}"))
            continue
        mine = sorted((c for c in checked if c.entry.seq < size and _scope(c) == scope), key=lambda c: c.entry.seq)
        last = mine[-1] if mine else None
        if len(mine) != p.leaf.count:
            out.findings.append(Finding(where, f"the ledger had {p.leaf.count} entries of this scope before entry "
                                        f"{size} but the bundle holds {len(mine)}: a record was left out"))
        elif last is not None and (last.entry.seq, last.entry.entry_hash.hex()) != (
                p.leaf.last_seq, p.leaf.last_entry_hash):
            out.findings.append(Finding(where, f"the scope's last entry below {size} is entry {p.leaf.last_seq}, "
                                        f"not entry {last.entry.seq}"))
    if not out.findings:
        out.up_to = size
    return out


def _scope(c: CheckedEntry) -> str:
    return scope_of(c.leaf.kind, c.record.__dict__.get("system"))
