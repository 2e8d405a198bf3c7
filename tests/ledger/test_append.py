"""Appending: signatures, roles, revocation, duplicates, references, all-or-nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from ledger import append as append_module
from ledger import deferred_checks
from ledger.dsse import pae, sign_envelope
from ledger.errors import DuplicateError, InputError, LedgerStateError
from ledger.ingest import Document
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger, init_ledger, revoke_key
from ledger.verify import verify_ledger
from tests.conftest import (
    T0,
    docs,
    eval_record,
    model_version_record,
    system_record,
    table_bytes,
)


def envelope_doc(record: dict, key, source: str = "env.json") -> Document:
    env = sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(record)), key)
    return Document(source, env.to_json())


def test_append_assigns_contiguous_seqs_and_verifies(ledger: Ledger, keys) -> None:
    before = ledger.head().size
    out = ledger.append(docs(eval_record(), eval_record(suite="robustness")), signing_key=keys.pipeline)
    assert [a.seq for a in out] == [before, before + 1]
    assert ledger.head().size == before + 2
    assert verify_ledger(ledger.engine).ok


def test_envelope_signed_offline_is_accepted(ledger: Ledger, keys) -> None:
    out = ledger.append([envelope_doc(eval_record(), keys.pipeline)])
    assert out[0].kind == "evaluation"
    stored = ledger.get(out[0].seq)
    assert stored.envelope().signatures[0].keyid == keys.pipeline.public.key_id


@pytest.mark.parametrize(
    ("signer", "record", "message"),
    [
        ("stranger", eval_record(), "is not trusted"),
        ("pipeline", {"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T00:00:00Z",
                      "target": "0" * 64, "decision": "approve"}, "may not sign 'approval'"),
        ("auditor", eval_record(), "role 'auditor'"),
        ("pipeline", {"kind": "key.revoke", "observed_at": "2026-11-02T00:00:00Z", "key_id": "0" * 64,
                      "reason": "x"}, "may not sign 'key.revoke'"),
    ],
    ids=["untrusted", "pipeline-approves", "auditor-evaluates", "pipeline-revokes"],
)
def test_wrong_signer_is_refused_and_nothing_written(ledger: Ledger, keys, signer, record, message) -> None:
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError, match=message) as exc:
        ledger.append([envelope_doc(record, getattr(keys, signer))])
    assert exc.value.exit_code == 2
    assert "env.json" in str(exc.value) and "signatures[0]" in str(exc.value)
    assert table_bytes(ledger.engine) == before


def test_revoked_key_is_refused_after_revocation_but_earlier_entries_stay_valid(ledger: Ledger, keys) -> None:
    early = ledger.append(docs(eval_record()), signing_key=keys.pipeline)[0]
    revoke_key(ledger, keys.admin, keys.pipeline.public.key_id[:12], reason="laptop stolen")
    with pytest.raises(InputError, match="revoked at entry .*laptop stolen"):
        ledger.append(docs(eval_record(suite="robustness")), signing_key=keys.pipeline)
    report = verify_ledger(ledger.engine)
    assert report.ok, report.failure
    assert ledger.get(early.seq).seq == early.seq


def test_tampered_envelope_signature_is_refused(ledger: Ledger, keys) -> None:
    doc = envelope_doc(eval_record(), keys.pipeline)
    other = envelope_doc(eval_record(suite="robustness"), keys.pipeline)
    forged = dict(doc.data, signatures=other.data["signatures"])
    with pytest.raises(InputError, match="does not verify"):
        ledger.append([Document("forged.json", forged)])


def test_non_canonical_payload_is_refused(ledger: Ledger, keys) -> None:
    import base64
    import json

    from ledger.dsse import pae

    payload = json.dumps(eval_record(), indent=1).encode()
    sig = keys.pipeline.sign(pae(PAYLOAD_TYPE, payload))
    env = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
           "signatures": [{"keyid": keys.pipeline.public.key_id, "sig": base64.b64encode(sig).decode()}]}
    with pytest.raises(InputError, match="not the canonical form"):
        ledger.append([Document("x.json", env)])


def test_replayed_envelope_is_a_duplicate(ledger: Ledger, keys) -> None:
    doc = envelope_doc(eval_record(), keys.pipeline)
    first = ledger.append([doc])[0]
    before = table_bytes(ledger.engine)
    with pytest.raises(DuplicateError, match=f"already in the ledger as entry {first.seq}"):
        ledger.append([doc])
    assert table_bytes(ledger.engine) == before


def test_batch_is_all_or_nothing(ledger: Ledger, keys) -> None:
    before = table_bytes(ledger.engine)
    bad = eval_record(observed_at="yesterday")
    with pytest.raises(InputError, match=r"test\[2\]: field 'observed_at'"):
        ledger.append(docs(eval_record(), eval_record(suite="robustness"), bad), signing_key=keys.pipeline)
    assert table_bytes(ledger.engine) == before


def test_duplicate_inside_one_batch_is_refused(ledger: Ledger, keys) -> None:
    with pytest.raises(DuplicateError, match="twice in this batch"):
        ledger.append(docs(eval_record(), eval_record()), signing_key=keys.pipeline)


def test_unregistered_system_and_dangling_target_are_refused(ledger: Ledger, keys) -> None:
    with pytest.raises(InputError, match="system 'nope' is not registered"):
        ledger.append(docs(eval_record(system="nope")), signing_key=keys.pipeline)
    approval = {"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T00:00:00Z",
                "target": "ab" * 32, "decision": "approve"}
    with pytest.raises(InputError, match="field 'target': no entry with hash"):
        ledger.append(docs(approval), signing_key=keys.approver)


def test_system_registered_earlier_in_the_same_batch_counts(ledger: Ledger, keys) -> None:
    out = ledger.append(docs(system_record("fraud"), model_version_record("fraud"), eval_record(system="fraud")),
                        signing_key=keys.admin)
    assert [a.system for a in out] == ["fraud", "fraud", "fraud"]


def test_key_trusted_earlier_in_batch_can_sign_later_items(ledger: Ledger, keys) -> None:
    from tests.conftest import fixed_key

    new = fixed_key("new-pipeline")
    trust = {"kind": "key.trust", "observed_at": "2026-11-02T00:00:00Z",
             "public_key": new.public.to_b64(), "role": "pipeline", "owner": "ci-2"}
    out = ledger.append([envelope_doc(trust, keys.admin, "t.json"), envelope_doc(eval_record(), new, "e.json")])
    assert [a.kind for a in out] == ["key.trust", "evaluation"]
    assert verify_ledger(ledger.engine).ok


def test_unknown_control_is_refused_when_catalog_is_known(engine, keys) -> None:
    init_ledger(engine, keys.admin, now=T0)
    led = Ledger(engine, control_exists={"EVAL-FAIR-01"}.__contains__)
    led.append(docs(system_record(), model_version_record()), signing_key=keys.admin)
    led.append(docs(eval_record(controls=["EVAL-FAIR-01"])), signing_key=keys.admin)
    with pytest.raises(InputError, match="unknown control 'EVAL-NOPE-01'"):
        led.append(docs(eval_record(suite="x", controls=["EVAL-NOPE-01"])), signing_key=keys.admin)


def test_append_before_init_says_what_to_do(engine, keys) -> None:
    with pytest.raises(LedgerStateError, match="assure init"):
        Ledger(engine).append(docs(system_record()), signing_key=keys.admin)


def test_init_is_idempotent_and_refuses_another_admin(engine, keys) -> None:
    first = init_ledger(engine, keys.admin, now=T0)
    again = init_ledger(engine, keys.admin, now=T0 + dt.timedelta(days=1))
    assert first.created and not again.created
    assert again.genesis_hash == first.genesis_hash
    with pytest.raises(LedgerStateError, match="another admin key"):
        init_ledger(engine, keys.stranger)


def test_cannot_revoke_last_admin(ledger: Ledger, keys) -> None:
    with pytest.raises(InputError, match="last active admin"):
        revoke_key(ledger, keys.admin, keys.admin.public.key_id, reason="oops")


def test_key_expiry_window_is_enforced(ledger: Ledger, keys) -> None:
    from ledger.store import trust_key
    from tests.conftest import fixed_key

    temp = fixed_key("temporary")
    trust_key(ledger, keys.admin, temp.public, role="pipeline", owner="temp",
              valid_until="2026-11-05T00:00:00Z", now=T0)
    ledger.append(docs(eval_record()), signing_key=temp, now=dt.datetime(2026, 11, 4, tzinfo=dt.UTC))
    with pytest.raises(InputError, match="expired"):
        ledger.append(docs(eval_record(suite="b")), signing_key=temp, now=dt.datetime(2026, 11, 6, tzinfo=dt.UTC))


def test_same_record_signed_by_two_keys_is_two_attestations(ledger: Ledger, keys) -> None:
    target = ledger.append(docs(eval_record()), signing_key=keys.pipeline)[0].entry_hash
    approval = {"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-03T00:00:00Z",
                "target": target, "decision": "approve"}
    a = ledger.append([envelope_doc(approval, keys.approver)])[0]
    b = ledger.append([envelope_doc(approval, keys.approver2)])[0]
    assert b.seq == a.seq + 1
    with ledger.engine.connect() as c:  # one payload row, stored by the first append, shared by both
        shared = c.exec_driver_sql("SELECT count(*) FROM payload WHERE sha256 IN "
                                   f"(SELECT payload_sha256 FROM entry WHERE seq IN ({a.seq}, {b.seq}))").scalar_one()
    assert shared == 1
    with pytest.raises(DuplicateError):
        ledger.append([envelope_doc(approval, keys.approver2)])
    assert verify_ledger(ledger.engine).ok


def test_signer_revoked_between_prepare_and_commit_is_refused(ledger: Ledger, keys) -> None:
    judged = ledger.registry()
    now = T0 + dt.timedelta(days=1)
    prepared = ledger.prepare(docs(eval_record()), signing_key=keys.pipeline, now=now, registry=judged)
    revoke_key(ledger, keys.admin, keys.pipeline.public.key_id, reason="rotated", now=now)
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError, match="revoked at entry"):
        ledger.commit(prepared, now=now, judged=judged)
    assert table_bytes(ledger.engine) == before


def _batch(keys, n: int) -> list[Document]:
    return [envelope_doc(eval_record(suite=f"suite-{i}"), keys.pipeline, source=f"env[{i}]") for i in range(n)]


def _forge(doc: Document, keys) -> Document:
    other = envelope_doc(eval_record(suite="another"), keys.pipeline)
    return Document(doc.source, dict(doc.data, signatures=other.data["signatures"]))


@pytest.mark.parametrize(
    ("forged", "malformed", "named"),
    [(600, None, "env[600]"), (100, 650, "env[100]"), (650, 100, "env[100]")],
    ids=["late-forgery", "forgery-before-bad-record", "bad-record-before-forgery"],
)
def test_large_batch_names_its_first_bad_document(
    ledger: Ledger, keys, forged, malformed, named, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big batches check signatures in a worker process; the error is still the first in batch order."""
    monkeypatch.setattr(append_module, "PARALLEL_FROM", 200)  # the worker path, in small chunks
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    batch = _batch(keys, 700)
    batch[forged] = _forge(batch[forged], keys)
    if malformed is not None:
        batch[malformed] = Document(batch[malformed].source, dict(batch[malformed].data, payloadType=""))
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError) as exc:
        ledger.append(batch)
    assert exc.value.source == named
    assert table_bytes(ledger.engine) == before


def test_large_batch_with_good_signatures_is_written_whole(ledger: Ledger, keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(append_module, "PARALLEL_FROM", 200)
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    before = ledger.head().size
    out = ledger.append(_batch(keys, 500))
    assert [a.seq for a in out] == list(range(before, before + 500))
    assert verify_ledger(ledger.engine).ok


def test_bad_signature_outranks_an_error_found_while_writing(ledger: Ledger, keys, monkeypatch) -> None:
    """The unregistered system at 650 is only found under the lock, after the signature of 100 was queued."""
    monkeypatch.setattr(append_module, "PARALLEL_FROM", 200)
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    batch = _batch(keys, 700)
    batch[100] = _forge(batch[100], keys)
    batch[650] = envelope_doc(eval_record(system="not-registered"), keys.pipeline, source="env[650]")
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError, match="does not verify") as exc:
        ledger.append(batch)
    assert exc.value.source == "env[100]"
    assert table_bytes(ledger.engine) == before
    batch[100] = _batch(keys, 101)[100]
    with pytest.raises(InputError, match="not registered") as exc:
        ledger.append(batch)
    assert exc.value.source == "env[650]"
    assert table_bytes(ledger.engine) == before


def _non_canonical(keys, source: str) -> Document:
    payload = json.dumps(eval_record(suite="spaced"), indent=1).encode()
    sig = keys.pipeline.sign(pae(PAYLOAD_TYPE, payload))
    return Document(source, {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                             "signatures": [{"keyid": keys.pipeline.public.key_id, "sig": base64.b64encode(sig).decode()}]})


@pytest.mark.parametrize(
    ("non_canonical", "other", "named", "reason"),
    [(400, ("stranger", 600), "env[400]", "not the canonical form"),
     (600, ("forged", 100), "env[100]", "does not verify"),
     (300, ("stranger", 300), "env[300]", "not the canonical form")],
    ids=["before-untrusted-signer", "after-forgery", "same-document"],
)
def test_large_batch_orders_canonical_form_checks_with_the_rest(
    ledger: Ledger, keys, monkeypatch: pytest.MonkeyPatch, non_canonical, other, named, reason
) -> None:
    """The canonical-form check runs in the worker too; it still reports in document order."""
    monkeypatch.setattr(append_module, "PARALLEL_FROM", 200)
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    batch = _batch(keys, 700)
    how, at = other
    if how == "forged":
        batch[at] = _forge(batch[at], keys)
    else:
        batch[at] = envelope_doc(eval_record(suite="x"), keys.stranger, source=f"env[{at}]")
    if non_canonical != at:
        batch[non_canonical] = _non_canonical(keys, f"env[{non_canonical}]")
    else:  # one document both non-canonical and signed by an untrusted key: form is judged first
        bad = _non_canonical(keys, f"env[{at}]")
        stranger_sig = keys.stranger.sign(pae(PAYLOAD_TYPE, base64.b64decode(bad.data["payload"])))
        bad.data["signatures"] = [{"keyid": keys.stranger.public.key_id, "sig": base64.b64encode(stranger_sig).decode()}]
        batch[at] = bad
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError, match=reason) as exc:
        ledger.append(batch)
    assert exc.value.source == named
    assert table_bytes(ledger.engine) == before


def _unregistered(keys, at: int) -> Document:
    return envelope_doc(eval_record(system="not-registered"), keys.pipeline, source=f"env[{at}]")


@pytest.mark.parametrize(
    ("bad", "named", "reason"),
    [({100: "unregistered", 650: "forged"}, "env[650]", "does not verify"),
     ({100: "unregistered", 650: "non-canonical"}, "env[650]", "not the canonical form"),
     ({100: "unregistered", 500: "replayed"}, "env[100]", "not registered"),
     ({100: "replayed", 650: "non-canonical"}, "env[650]", "not the canonical form"),
     ({100: "forged", 300: "stranger", 650: "non-canonical"}, "env[100]", "does not verify"),
     ({400: "non-canonical", 600: "stranger"}, "env[400]", "not the canonical form")],
    ids=["own-check-outranks-ledger-check", "form-outranks-ledger-check", "ledger-checks-in-document-order",
         "form-outranks-replay", "first-own-check", "form-before-signer"],
)
def test_worker_and_one_process_report_the_same_error(ledger: Ledger, keys, monkeypatch, bad, named, reason) -> None:
    """A document's own checks (form, signer, signatures) come first, in document order, then
    those against the ledger (replays, unregistered systems) in document order: whichever
    process makes them, so the message never depends on the batch size or on timing."""
    monkeypatch.setattr(append_module, "PARALLEL_FROM", 200)
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    batch = _batch(keys, 700)
    for at, how in bad.items():
        if how == "replayed":
            ledger.append([batch[at]])
        else:
            batch[at] = {"unregistered": _unregistered, "non-canonical": lambda k, a: _non_canonical(k, f"env[{a}]"),
                         "forged": lambda k, a: _forge(batch[a], k),
                         "stranger": lambda k, a: envelope_doc(eval_record(suite="x"), k.stranger, source=f"env[{a}]"),
                         }[how](keys, at)
    before = table_bytes(ledger.engine)
    seen = set()
    for parallel in (True, False):
        with pytest.raises((InputError, DuplicateError)) as exc:
            ledger.append(batch, parallel=parallel)
        seen.add((type(exc.value), exc.value.source, exc.value.reason))
        assert table_bytes(ledger.engine) == before
    assert len(seen) == 1, seen
    (_, source, message), = seen
    assert source == named and reason in message


def test_append_reports_progress_while_checking(ledger: Ledger, keys) -> None:
    calls: list[tuple[int, int]] = []
    ledger.append(_batch(keys, 2_500), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]


def test_a_key_revoked_inside_a_batch_may_not_sign_the_batchs_later_records(ledger: Ledger, keys) -> None:
    """Signer judgements are reused within a batch only until one of its key events changes the keys."""
    before = table_bytes(ledger.engine)
    revoke = {"kind": "key.revoke", "observed_at": "2026-11-02T10:00:00Z", "key_id": keys.pipeline.public.key_id,
              "reason": "laptop stolen"}
    batch = [envelope_doc(eval_record(suite="before"), keys.pipeline, "a.json"),
             envelope_doc(revoke, keys.admin, "revoke.json"),
             envelope_doc(eval_record(suite="after"), keys.pipeline, "b.json")]
    with pytest.raises(InputError, match="was revoked") as e:
        ledger.append(batch)
    assert e.value.source == "b.json"
    assert table_bytes(ledger.engine) == before
