"""One model version's trace from a view that reads only that version's evaluations and documents
(the web view's system page) is the trace 'assure trace --model-version' prints from every record."""

from __future__ import annotations

from controls import answers, service
from controls.approvals import load_policy
from controls.trace import trace
from tests.conftest import T0, eval_record
from tests.controls.test_coverage import D, approve, iso, model_version, put


def test_a_versions_trace_reads_only_its_records_and_says_what_the_full_trace_says(ledger, keys) -> None:
    policy = load_policy()
    put(ledger, keys.pipeline, T0 + D, model_version("3.0.0", T0 + D))
    first = put(ledger, keys.pipeline, T0 + 2 * D,
                *[eval_record(suite=f"s{i}", observed_at=iso(T0 + 2 * D), model_version=v)
                  for i in range(3) for v in ("2.1.0", "3.0.0")],
                {"kind": "document", "system": "credit-scoring", "observed_at": iso(T0 + 2 * D),
                 "doc_type": "model_card", "title": "card", "model_version": "3.0.0"})
    # A run of 2.1.0 retracted by its pipeline, a 3.0.0 run corrected, and the 3.0.0 release approved.
    put(ledger, keys.pipeline, T0 + 3 * D, {"kind": "retract", "system": "credit-scoring",
                                            "observed_at": iso(T0 + 3 * D), "target": first[0].entry_hash,
                                            "reason": "wrong dataset"})
    put(ledger, keys.pipeline, T0 + 3 * D, eval_record(suite="s1", observed_at=iso(T0 + 3 * D), model_version="3.0.0",
                                                      supersedes=first[3].entry_hash))
    mv = ledger.get(ledger.head().size - 1 - 9)  # the 3.0.0 model version entry
    assert mv.parsed_leaf.kind == "model_version"
    put(ledger, keys.approver, T0 + 4 * D, approve(mv.entry_hash.hex(), T0 + 4 * D))
    as_of = T0 + 5 * D
    for version in ("2.1.0", "3.0.0"):
        view = service.version_view(ledger.engine, "credit-scoring", model_version=version, as_of=as_of, policy=policy)
        expected = answers.trace(ledger.engine, "credit-scoring", policy=policy, as_of=as_of, model_version=version)
        assert trace(view, policy=policy, model_version=version) == expected
        other = "3.0.0" if version == "2.1.0" else "2.1.0"
        # Of the other version's runs only those a retraction or a correction names are read (what is in
        # force needs them); s2 is named by nothing.
        assert "s2" not in {e.fields["suite"] for e in view.by_hash.values()
                            if e.kind == "evaluation" and e.model_version == other}
    chain = answers.trace(ledger.engine, "credit-scoring", policy=policy, as_of=as_of, model_version="3.0.0")["chain"]
    assert len(chain[0]["evaluations"]) == 3 and len(chain[0]["documents"]) == 1
    assert len(answers.trace(ledger.engine, "credit-scoring", policy=policy, as_of=as_of,
                             model_version="2.1.0")["chain"][0]["evaluations"]) == 2
