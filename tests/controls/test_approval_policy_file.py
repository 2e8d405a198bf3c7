"""An approval policy file is read strictly: what an approver edits is what is enforced."""

from __future__ import annotations

import pytest

from controls.approvals import DEFAULT_POLICY, load_policy
from ledger.errors import InputError

TWO_APPROVERS = """\
format: assure-approval-policy/1
decisions:
  release:
    low: {approvers: 1}
    medium: {approvers: 2}
    high: {approvers: 2}
"""


def test_the_built_in_policy_wants_two_approvers_for_a_high_risk_release() -> None:
    assert load_policy().rule("release", "high").approvers == 2
    assert load_policy(DEFAULT_POLICY) == load_policy()


def test_a_second_approvers_key_cannot_quietly_lower_the_bar(tmp_path) -> None:
    # YAML 1.1 readers keep the last of two equal keys: "approvers: 1" would win unseen.
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS.replace("high: {approvers: 2}", "high: {approvers: 2, approvers: 1}"))
    with pytest.raises(InputError, match="duplicate key 'approvers'") as e:
        load_policy(path)
    assert e.value.source == str(path)


@pytest.mark.parametrize(("text", "reason"), [
    (TWO_APPROVERS + "---\n" + TWO_APPROVERS, "expected one YAML document, found 2"),
    ("", "expected one YAML document, found 0"),
    (TWO_APPROVERS.replace("approvers: 1}", "approvers: yes}"), "ambiguous|yes"),
    (TWO_APPROVERS.replace("approvers: 1}", "approvers: 0}"), "greater than or equal to 1"),
])
def test_a_malformed_policy_is_refused_naming_the_file_and_why(tmp_path, text: str, reason: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=reason) as e:
        load_policy(path)
    assert e.value.source == str(path)


def test_a_policy_that_is_not_utf8_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(TWO_APPROVERS.encode("utf-16"))
    with pytest.raises(InputError, match="invalid YAML"):
        load_policy(path)
