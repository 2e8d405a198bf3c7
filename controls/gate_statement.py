"""A release-gate verdict as a signed in-toto Statement, and its offline verification.

``assure gate --sign`` writes the verdict as an in-toto Statement v1 (subject:
the model artifact's digest) in a DSSE envelope. Only a key the ledger trusts
for decisions may sign it: an active admin or approver key (a pipeline key
cannot certify its own release). The predicate names the ledger head the
verdict was decided on and the newest signed checkpoint that head was proven
to extend, with the consistency proof between them.

``assure verify-gate`` checks a statement with no database: the DSSE signature
against a key the verifier pins, the statement's form, and optionally that the
head extends a checkpoint the verifier already holds.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from controls.gate import GateVerdict
from ledger.anchor import Anchor
from ledger.canonical import canonical_json
from ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.dsse import Envelope, pae, sign_envelope
from ledger.errors import InputError
from ledger.keys import PrivateKey, PublicKey
from ledger.merkle import ProofError, verify_consistency
from ledger.registry import Registry
from ledger.wording import a

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
GATE_PREDICATE = "https://assure.dev/attestations/release-gate/v1"
SIGNING_ROLES = ("admin", "approver")


def require_gate_signer(registry: Registry, key: PrivateKey) -> None:
    """Refuse a key the ledger does not trust to sign decisions.

    Raises:
        InputError: unless ``key`` is an active admin or approver key of the ledger.
    """
    state = registry.get(key.public.key_id)
    if state is None or state.role not in SIGNING_ROLES or state.status() != "active":
        what = "not trusted in this ledger" if state is None else a(f"{state.status()} {state.role} key")
        raise InputError(
            f"key {key.public.key_id[:16]}… is {what}: a gate verdict is signed with an active admin or approver key",
            field="--sign",
        )


def gate_statement(verdict: GateVerdict, *, anchor: Anchor, proof: list[bytes]) -> dict[str, Any]:
    """The verdict as an in-toto Statement v1 naming the model artifact as its subject.

    Args:
        verdict: the gate's verdict.
        anchor: the head it was decided on and the checkpoint that head extends.
        proof: the consistency proof from that checkpoint to the head.
    """
    subject = [{"name": f"{verdict.system}@{verdict.model_version}",
                "digest": {"sha256": verdict.artifact_sha256 or "0" * 64}}]
    head, cp = anchor.head, anchor.checkpoint
    ledger: dict[str, Any] = {"origin": head.origin, "size": head.size, "root": head.root.hex()}
    if cp is not None:
        ledger["checkpoint"] = {"size": cp.size, "root": cp.root.hex(),
                                "consistency_proof": [base64.b64encode(h).decode() for h in proof]}
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": GATE_PREDICATE,
        "predicate": {**verdict.to_json(), "ledger": ledger},
    }


def sign_statement(statement: dict[str, Any], key: PrivateKey) -> Envelope:
    """Sign a Statement into a DSSE envelope (payloadType application/vnd.in-toto+json)."""
    return sign_envelope(INTOTO_PAYLOAD_TYPE, canonical_json(statement), key)


@dataclass
class StatementCheck:
    """What :func:`verify_statement` found: a verdict it vouches for, or what is wrong."""

    statement: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    anchored_to: Checkpoint | None = None

    @property
    def ok(self) -> bool:
        """Signed by the pinned key, well-formed, and (if asked) anchored."""
        return self.statement is not None and not self.problems

    @property
    def passed(self) -> bool:
        """The statement is good and its verdict is pass."""
        return self.ok and self.statement is not None and self.statement["predicate"].get("verdict") == "pass"


def verify_statement(
    text: bytes, *, key: PublicKey, checkpoint_note: str | None = None, ledger_key: PublicKey | None = None
) -> StatementCheck:
    """Verify a signed gate statement offline.

    Args:
        text: the DSSE envelope file's bytes.
        key: the key that must have signed it (pinned by the verifier).
        checkpoint_note: a signed checkpoint the verifier holds; the statement's
            head must be proven to extend it (it must be the checkpoint the
            statement names).
        ledger_key: the key that signs the ledger's checkpoints (with ``checkpoint_note``).

    Raises:
        InputError: the file is not a DSSE envelope, or the checkpoint does not
            parse or verify under ``ledger_key``.
    """
    try:
        env = Envelope.from_json(json.loads(text), source="statement")
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"not a DSSE envelope: {e}", source="statement") from e
    out = StatementCheck()
    message = pae(env.payload_type, env.payload)
    if env.payload_type != INTOTO_PAYLOAD_TYPE:
        out.problems.append(f"payloadType is {env.payload_type!r}, not {INTOTO_PAYLOAD_TYPE!r}")
        return out
    if not any(s.keyid == key.key_id and key.verify(message, s.sig) for s in env.signatures):
        out.problems.append(f"not signed by the pinned key {key.key_id[:16]}… (or the statement was altered)")
        return out
    try:
        statement = json.loads(env.payload)
    except ValueError as e:
        out.problems.append(f"the signed payload is not JSON: {e}")
        return out
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != GATE_PREDICATE:
        out.problems.append("not an Assure release-gate statement (wrong _type or predicateType)")
        return out
    out.statement = statement
    if checkpoint_note is not None:
        _check_anchor(out, statement["predicate"].get("ledger") or {}, checkpoint_note, ledger_key)
    return out


def _check_anchor(out: StatementCheck, ledger: dict[str, Any], note: str, ledger_key: PublicKey | None) -> None:
    if ledger_key is None:
        raise InputError("give the ledger's key (--ledger-key) to verify the checkpoint", field="--ledger-key")
    try:
        cp = open_checkpoint(note, origin=ledger.get("origin"), keys=[(str(ledger.get("origin")), ledger_key)])
    except CheckpointError as e:
        raise InputError(f"the checkpoint does not verify: {e}", field="--checkpoint") from e
    named = ledger.get("checkpoint") or {}
    if named.get("size") != cp.size or named.get("root") != cp.root.hex():
        out.problems.append(f"the verdict is anchored to checkpoint size {named.get('size')}, not to the given "
                            f"checkpoint (size {cp.size})")
        return
    try:
        proof = [base64.b64decode(h, validate=True) for h in named.get("consistency_proof", [])]
        verify_consistency(cp.size, int(ledger["size"]), cp.root, bytes.fromhex(ledger["root"]), proof)
    except (ProofError, ValueError, KeyError, TypeError) as e:
        out.problems.append(f"the ledger head of the verdict does not extend the checkpoint: {e}")
        return
    out.anchored_to = cp
