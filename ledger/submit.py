"""Submitting signed envelopes from elsewhere (the HTTP API), with retries made safe.

The rules are append's (:meth:`ledger.store.Ledger.append`): a batch is written all or
nothing, every signature is the authority, and nothing unsigned is accepted here (a
server holds no signing key). One thing differs: an envelope that is already in the
ledger, byte for byte the same signatures, is not an error but answered with its
original entry, so a client that lost an answer can send the same request again. A
replay with other signature bytes still goes through append and is refused there.

This module does not know HTTP; ``server`` presents what it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ledger import models as m
from ledger.append import Appended
from ledger.checkpoints import receipts
from ledger.db import read_transaction
from ledger.dsse import Envelope, is_envelope
from ledger.entry import Leaf, idempotency_key
from ledger.errors import DuplicateError, InputError
from ledger.ingest import Document
from ledger.proofs import receipt_json
from ledger.store import Ledger

APPENDED = "appended"
DUPLICATE = "duplicate"
_ROUNDS = 5


def submit(led: Ledger, docs: Sequence[Document], *, parallel: bool = False) -> dict[str, Any]:
    """Append the envelopes in ``docs`` that the ledger does not hold yet, all or nothing.

    Returns:
        The receipts as ``assure append --json`` prints them, each entry with a
        ``status``: ``appended``, or ``duplicate`` for an envelope that was in the
        ledger already (its original seq, leaf and a fresh inclusion proof).

    Raises:
        InputError: a document that is not a signed envelope, or anything append
            refuses (nothing written).
        DuplicateError: the same envelope twice in ``docs``, or a replay with other
            signature bytes (nothing written).
    """
    if not docs:
        raise InputError("nothing to append")
    envelopes = []
    for doc in docs:
        if not is_envelope(doc.data):
            raise InputError("not a signed DSSE envelope: sign records offline with 'assure sign' "
                             "(the server holds no signing key)", source=doc.source)
        envelopes.append(Envelope.from_json(doc.data, source=doc.source))
    found: dict[int, Appended] = {}  # first try: append all (no extra query when nothing is a retry)
    for round_ in range(_ROUNDS):
        todo = [d for i, d in enumerate(docs) if i not in found]
        try:
            new = iter(led.append(todo, parallel=parallel, prove=True)) if todo else iter(())
        except DuplicateError:
            # Some are in the ledger already (a retry, or another request got there first):
            # answer those with their entries; if none is, the duplicate is real (twice in
            # this batch, or a replay with other signature bytes).
            again = _already_in_ledger(led, envelopes, docs)
            if round_ == _ROUNDS - 1 or len(again) == len(found):
                raise
            found = again
            continue
        entries = [found[i] if i in found else next(new) for i in range(len(docs))]
        tree = entries[0].tree
        if found or tree is None:  # proofs of entries appended before: read from the stored tree
            out = receipts(led.engine, entries)
        else:  # proven by the append itself, in the tree its commit made
            out = receipt_json(tree.origin, tree.size, tree.root, None, entries, [e.proof or () for e in entries])
        for i, e in enumerate(out["entries"]):
            e["status"] = DUPLICATE if i in found else APPENDED
        return out
    raise AssertionError("unreachable")  # pragma: no cover


def _already_in_ledger(led: Ledger, envelopes: list[Envelope], docs: Sequence[Document]) -> dict[int, Appended]:
    """The documents (by index) whose envelope is stored with exactly these signatures."""
    keys = {
        idempotency_key(hashlib.sha256(env.payload).hexdigest(), [s.keyid for s in env.signatures]): i
        for i, env in enumerate(envelopes)
    }
    found: dict[int, Appended] = {}
    names = list(keys)
    with read_transaction(led.engine) as conn:
        for start in range(0, len(names), 500):
            rows = conn.execute(
                select(m.Entry.idem_key, m.Entry.seq, m.Entry.entry_hash, m.Entry.leaf, m.Record.system)
                .outerjoin(m.Record, m.Record.seq == m.Entry.seq)  # type: ignore[arg-type]
                .where(m.Entry.idem_key.in_(names[start:start + 500]))  # type: ignore[attr-defined]
            )
            for idem, seq, h, leaf_bytes, system in rows:
                i = keys[idem]
                leaf = Leaf.from_bytes(bytes(leaf_bytes))
                env = envelopes[i]
                if leaf.signatures == env.signatures and leaf.payload_type == env.payload_type:
                    found[i] = Appended(seq, bytes(h).hex(), bytes(leaf_bytes), leaf.kind, system, docs[i].source)
    return found
