"""For every control of a system, `coverage`, `gaps`, the release gate and the audit PDF say the same.

A reviewer reads the PDF, an engineer runs `assure gaps`, CI runs `assure gate`: if
one called a control missing while another called it covered (say the gaps table
"missing" next to an approvals section "approved 2/2"), nobody could trust any of
them. Checked on the sample ledger's package (three systems; the one packaged has
a failing evaluation under an exception, two approvals, an incident and a pending
withdrawal), on the figures the PDF was rendered from and on the PDF's own text.
"""

from __future__ import annotations

import re

from click.testing import CliRunner

from cli.main import cli
from controls import gaps
from controls.approvals import load_policy
from controls.gate import release_gate
from controls.graph import load_graph
from reports.model import report_context
from tests.reports.conftest import AS_OF, unzip
from tests.reports.pdftext import read_pages

LABELS = {"covered": "covered", "excepted": "excepted", "partial": "partial", "failing": "failing",
          "stale": "stale", "missing": "missing", "needs_review": "needs review"}


def _cli_json(world, *args: str) -> object:
    import json

    r = CliRunner().invoke(cli, ["--db", world.db_url, *args, "--as-of", AS_OF.isoformat(), "--json"])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def test_coverage_gaps_gate_and_the_pdf_agree_on_every_control(world) -> None:
    report = world.result.report
    graph, policy = load_graph(user_dir=None), load_policy()
    system = report.view.system
    not_met = {cid: c.status for cid, c in report.controls.items() if c.status not in ("covered", "excepted")}
    assert not_met, "the sample ledger has gaps to agree on"

    # gaps lists exactly the requirements coverage calls gaps, with the controls holding them back
    listed = {g.requirement for g in gaps.gaps(report, graph)}
    assert listed == {r.node_id for fc in report.frameworks for r in fc.requirements if r.status in gaps.GAP_STATUSES}

    # the gate reads every release control as coverage does; what it blocks on is not met in coverage
    verdict = release_gate(graph, report.view, model_version=report.view.current_model_version, policy=policy,
                           report=report)
    for c in verdict.controls:
        assert c.status == report.controls[c.control.id].status, c.control.id
    assert set(verdict.missing_controls) <= set(not_met)

    # the PDF's data: its gaps table is the controls holding back a gap requirement, with coverage's status
    context = report_context(report, decisions=[], keys=[], records=[], package=None, generator="test",
                             graph=graph, policy=policy)
    in_pdf = {c["id"]: c["status"] for c in context["gaps"]["controls"]}
    holding_back = {c.control.id for fc in report.frameworks for r in fc.requirements if r.status in gaps.GAP_STATUSES
                    for c in r.controls if c.status not in ("covered", "excepted")}
    assert set(in_pdf) == holding_back and all(in_pdf[c] == not_met[c] for c in in_pdf)

    # and the PDF's own text: the gaps section names each such control with that status
    pages = read_pages(unzip(world.package)["audit.pdf"])
    first = next(i for i, p in enumerate(pages) if "Gaps" in p.lines and "Internal controls that are not covered, why,"
                 in " ".join(p.lines))
    text = " ".join(line for p in pages[first:first + 6] for line in p.lines)
    text = text[: text.index("Exceptions ")] if "Exceptions " in text else text
    for cid, status in in_pdf.items():
        assert re.search(rf"{re.escape(cid)}\b.*?{LABELS[status]}", text), (cid, status)

    # and the command line, on the same ledger and day
    cli_cov = _cli_json(world, "coverage", "--system", system)
    cli_gaps = _cli_json(world, "gaps", "--system", system)
    statuses = {r["requirement"]: r["status"] for f in cli_cov["frameworks"] for r in f["requirements"]}
    for fc in report.frameworks:
        for r in fc.requirements:
            assert statuses[r.node_id] == r.status, r.node_id
    assert {g["requirement"] for g in cli_gaps["gaps"]} == listed
