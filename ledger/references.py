"""Rules about what a record may refer to: systems, model versions, and earlier entries.

* Evidence names a registered system; a record naming a model version names
  one registered for its system (in the ledger, or earlier in the same batch).
* An approval names an entry of its own system (an approval of a model version
  is a release approval: it can never be organisation-wide).
* A retraction (``retract``'s ``target``) or a correction (any record's
  ``supersedes``) stays within the target's system: never from ``*`` onto a
  system's entry, nor across systems. A correction replaces an entry of the
  same kind. Either may be made only by the target's submitter (a signer with
  the same owner, so key rotation keeps it) or by an admin. Key events are
  never retracted or superseded: keys are revoked.

The facts about a referenced entry (kind, system, signers) come from its signed
bytes, not from the projections. Append applies these rules under the write
lock; ``assure verify`` applies them again to every stored entry. Whether a
retraction or correction *takes effect* (some need approval) is decided when
the ledger is read, in ``controls.state``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.canonical import parse_json
from ledger.entry import Leaf
from ledger.records import LEDGER_KINDS, ORG_WIDE
from ledger.registry import KeyState, Registry
from ledger.wording import a

if TYPE_CHECKING:  # the checks themselves need no SQLAlchemy (coverage's reads on SQLite import none)
    from sqlalchemy.engine import Connection

#: Fields of which kinds name a model version that must be registered.
MODEL_VERSION_REFS = frozenset({"evaluation", "risk_assessment", "incident", "document"})


@dataclass(frozen=True)
class EntryFacts:
    """What the rules need to know about a referenced entry, read from its signed bytes."""

    seq: int
    entry_hash: str
    kind: str
    system: str | None
    signer_key_ids: tuple[str, ...]


def load_facts(conn: Connection, hashes: Iterable[str]) -> dict[str, EntryFacts]:
    """Facts about the entries with these hashes (hex), those that exist."""
    from sqlalchemy import select

    from ledger import models as m

    wanted = sorted({bytes.fromhex(h) for h in hashes})
    out: dict[str, EntryFacts] = {}
    for i in range(0, len(wanted), 500):
        rows = conn.execute(
            select(m.Entry.seq, m.Entry.entry_hash, m.Entry.leaf, m.Payload.body)  # type: ignore[call-overload]
            .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
            .where(m.Entry.entry_hash.in_(wanted[i : i + 500]))  # type: ignore[attr-defined]
        )
        for seq, ehash, leaf_bytes, body in rows:
            facts = facts_from_entry(seq, bytes(ehash).hex(), bytes(leaf_bytes), body)
            out[facts.entry_hash] = facts
    return out


def facts_from_entry(seq: int, entry_hash: str, leaf_bytes: bytes, body: bytes | None) -> EntryFacts:
    """An entry's facts from its leaf and payload bytes (a redacted payload has no system)."""
    leaf = Leaf.from_bytes(leaf_bytes)
    system = parse_json(body).get("system") if body is not None else None
    return EntryFacts(seq, entry_hash, leaf.kind, system, tuple(s.keyid for s in leaf.signatures))


def reference_problem(
    *, kind: str, system: str | None, field: str, ref: EntryFacts, signers: Sequence[KeyState | Any],
    target_owners: Collection[str],
) -> str | None:
    """Why a ``kind`` record of ``system``, signed by ``signers``, may not name ``ref`` in ``field``.

    Args:
        kind: the referring record's kind.
        system: its system (None for key events).
        field: ``target`` (of an approval or a retraction) or ``supersedes``.
        ref: the referenced entry.
        signers: the referring record's signing keys (anything with ``role`` and ``owner``).
        target_owners: the owners of the keys that signed ``ref`` (owners stay the
            same across key rotation; see :func:`submitter_owners`).
    """
    where = f"entry {ref.seq} ({ref.kind}{f' of {ref.system!r}' if ref.system else ''})"
    if kind == "approval" and field == "target":
        if ref.kind in LEDGER_KINDS or ref.kind == "approval":
            return f"{where} cannot be approved"
        if ref.system != system:
            return f"{where} belongs to another system: an approval must name its target's system"
        return None
    verb = "retract" if field == "target" else "supersede"
    if ref.kind in LEDGER_KINDS or kind in LEDGER_KINDS:
        return f"key events and scope indexes are never retracted or superseded ({where}): revoke a key instead"
    if ref.kind == "system":
        return f"a system registration is never withdrawn ({where}): append a new 'system' record to reclassify it"
    if ref.system != system:
        scope = "organisation-wide ('*')" if system == ORG_WIDE else f"of system {system!r}"
        return f"a record {scope} cannot {verb} {where}: only records of the target's own system can"
    if field == "supersedes" and ref.kind != kind:
        return f"{a(kind)} record cannot supersede {where}: a correction must be of the same kind"
    if any(s.role == "admin" for s in signers):
        return None
    if not set(target_owners) & {s.owner for s in signers}:
        who = ", ".join(sorted(target_owners)) or "unknown"
        return f"only the submitter of {where} ({who}) or an admin may {verb} it"
    return None


def submitter_owners(key_ids: Iterable[str], registry: Registry) -> set[str]:
    """The owners of the keys that signed an entry."""
    return {k.owner for k in (registry.get(i) for i in key_ids) if k is not None}


def model_version_problem(
    system: str, version: str | None, registered: Collection[tuple[str, str]]
) -> str | None:
    """Why a record of ``system`` may not name model ``version``, or None."""
    if version is None or (system, version) in registered:
        return None
    return f"model version {version!r} is not registered for {system!r}: append its model_version record first"
