"""``assure frameworks|controls|map`` through the real CLI: output and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import TINY_CONTROLS, TINY_FRAMEWORK

Run = Callable[..., Result]


def test_frameworks_list_shows_counts_and_hashes(run_cli: Run) -> None:
    r = run_cli("frameworks", "list")
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["nist-ai-rmf"][1:3] == ["1.0", "72"]
    assert rows["iso-42001"][2] == "70"
    data = json.loads(run_cli("frameworks", "list", "--json").stdout)
    by_id = {d["id"]: d for d in data}
    assert by_id["nist-ai-rmf"]["requirements"] == 72 and by_id["nist-ai-rmf"]["nodes"] == 95
    assert len(by_id["eu-ai-act"]["sha256"]) == 64


def test_frameworks_show_hierarchy(run_cli: Run) -> None:
    r = run_cli("frameworks", "show", "iso-42001")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert "licence: ISO/IEC copyright" in r.stdout
    assert "  A.6  AI system life cycle  ·" in lines
    assert "      A.6.2.4  AI system verification and validation" in lines


def test_frameworks_show_one_requirement_with_controls_and_crosswalks(run_cli: Run) -> None:
    r = run_cli("frameworks", "show", "eu-ai-act", "Art 26(1)")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("eu-ai-act:Art-26.1  (paragraph)")
    assert "actors:        deployer" in r.stdout
    assert "applies from:  high_risk_annex_iii 2027-12-02, high_risk_annex_i 2028-08-02" in r.stdout
    assert "originally:    high_risk_annex_iii 2026-08-02" in r.stdout
    assert "  EU-DEPLOY-01  Deployer obligations for high-risk AI" in r.stdout
    assert "iso-42001:A.9.2  intersect" in r.stdout
    data = json.loads(run_cli("frameworks", "show", "nist-ai-rmf", "GV-1.1", "--json").stdout)
    assert data["node_id"] == "nist-ai-rmf:GOVERN-1.1"
    assert "GOV-03" in [c["id"] for c in data["controls"]]
    assert {"iso-42001:4.1", "nist-ai-600-1:GV-1.1-001"} <= {x["target"] for x in data["crosswalks"]}


def test_show_unknown_framework_or_requirement_exits_2(run_cli: Run) -> None:
    r = run_cli("frameworks", "show", "nist-csf")
    assert r.exit_code == 2
    assert "unknown framework 'nist-csf'" in r.stderr and "Traceback" not in r.output
    r = run_cli("frameworks", "show", "nist-ai-rmf", "GOVERN-9.9")
    assert r.exit_code == 2 and "unknown requirement 'GOVERN-9.9' in nist-ai-rmf" in r.stderr


def test_map_prints_relation_and_source(run_cli: Run) -> None:
    r = run_cli("map", "nist-ai-rmf:MAP-1.4", "--to", "iso-42001")
    assert r.exit_code == 0
    assert "iso-42001:A.2.2  related  AI policy  (nist-ai-rmf-to-iso-42001)  [confidence low, suspected_source_error]" in r.stdout
    assert "sources:" in r.stdout and "Microsoft" not in r.stdout.split("sources:")[0]
    r = run_cli("map", "eu-ai-act:Art-9.2", "--to", "iso-42001", "--json")
    data = json.loads(r.stdout)
    assert data["requirement"] == "eu-ai-act:Art-9.2"
    assert any(x["target"] == "iso-42001:6.1.2" and x["relation"] == "intersect" and not x["reviewed"] for x in data["links"])
    assert "(UNREVIEWED)" in run_cli("map", "eu-ai-act:Art-9.2", "--to", "iso-42001").stdout


def test_map_without_results_and_with_bad_ids(run_cli: Run) -> None:
    r = run_cli("map", "eu-ai-act:Art-50.2", "--to", "nist-ai-600-1")
    assert r.exit_code == 0 and "0 mappings" in r.stdout
    assert run_cli("map", "GOVERN-9.9", "--to", "iso-42001").exit_code == 2
    r = run_cli("map", "nist-ai-rmf:GOVERN-1.1", "--to", "iso-27001")
    assert r.exit_code == 2 and "unknown framework 'iso-27001'" in r.stderr


def test_controls_list_and_show(run_cli: Run) -> None:
    r = run_cli("controls", "list", "--framework", "eu-ai-act")
    assert r.exit_code == 0
    ids = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert "EU-CONF-01" in ids and "GOV-01" not in ids
    data = json.loads(run_cli("controls", "list", "--json").stdout)
    assert len(data) == len({d["id"] for d in data}) >= 40
    r = run_cli("controls", "show", "EVAL-FAIR-01")
    assert r.exit_code == 0
    assert "- evaluation, suite=fairness, passed=True, current model version, automated" in r.stdout
    assert "  nist-ai-rmf:MEASURE-2.11  Fairness and bias" in r.stdout
    shown = json.loads(run_cli("controls", "show", "RISK-TREAT-01", "--json").stdout)
    assert [leaf["kind"] for leaf in shown["evidence"]["all_of"]] == ["risk_assessment", "approval"]
    r = run_cli("controls", "show", "NOPE-01")
    assert r.exit_code == 2 and "unknown control 'NOPE-01'" in r.stderr


def test_validate_good_and_bad_files(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(TINY_FRAMEWORK)
    (tmp_path / "acme-controls.yaml").write_text(TINY_CONTROLS)
    r = run_cli("frameworks", "validate", "acme.yaml", "acme-controls.yaml")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["acme.yaml: ok", "acme-controls.yaml: ok"]
    (tmp_path / "bad.yaml").write_text(TINY_CONTROLS.replace("nist-ai-rmf:GOVERN-2.1", "nist-ai-rmf:GOVERN-2.9"))
    r = run_cli("frameworks", "validate", "acme.yaml", "bad.yaml")
    assert r.exit_code == 2
    assert "bad.yaml:8: controls[0].satisfies[1]: unknown requirement 'nist-ai-rmf:GOVERN-2.9'" in r.stderr
    assert "Traceback" not in r.output


def test_load_then_every_command_sees_the_user_framework(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(TINY_FRAMEWORK)
    (tmp_path / "acme-controls.yaml").write_text(TINY_CONTROLS)
    r = run_cli("frameworks", "load", "acme-controls.yaml")
    assert r.exit_code == 2 and "no framework 'acme-policy' is loaded" in r.stderr
    assert run_cli("frameworks", "load", "acme.yaml").exit_code == 0
    r = run_cli("frameworks", "load", "acme-controls.yaml")
    assert r.exit_code == 0 and "as .assure/frameworks/acme-controls.yaml" in r.stdout
    assert (tmp_path / ".assure" / "frameworks" / "acme.yaml").exists()
    assert "acme-policy" in run_cli("frameworks", "list").stdout
    assert "ACME-01" in run_cli("controls", "list", "--framework", "acme-policy").stdout
    assert "ACME-01" in run_cli("frameworks", "show", "nist-ai-rmf", "GOVERN-2.1").stdout
    # Another directory (option or environment) does not see it.
    assert "acme-policy" not in run_cli("frameworks", "list", "--frameworks-dir", "elsewhere").stdout
    assert "acme-policy" not in run_cli("frameworks", "list", env={"ASSURE_FRAMEWORKS_DIR": "elsewhere"}).stdout


def test_a_broken_user_file_is_reported_by_reading_commands(run_cli: Run, tmp_path: Path) -> None:
    user = tmp_path / "fw"
    user.mkdir()
    (user / "broken.yaml").write_text(TINY_FRAMEWORK.replace("title: Governance", "titel: Governance"))
    r = run_cli("controls", "list", "--frameworks-dir", "fw")
    assert r.exit_code == 2
    assert "fw/broken.yaml:5: requirements[0].titel: unknown field 'titel'" in r.stderr


def test_schema_command_prints_json_schema(run_cli: Run) -> None:
    schema = json.loads(run_cli("frameworks", "schema").stdout)
    assert {"assure-framework/1", "assure-crosswalk/1", "assure-controls/1"} <= set(
        schema["discriminator"]["mapping"]
    )
