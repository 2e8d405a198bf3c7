"""What audit.pdf tells its reader, read back from the PDF as a reader sees it.

The ``rich`` package (tests/reports/pdf_world.py) has a robustness run that
misses its threshold, the exception that waives it, an open high incident, a
risk register, conditional approvals, a supersession, retractions and a pending
reclassification, assessed under a user-supplied approval policy; ``world`` is
built with the built-in one. The last tests render report_context's HTML with
data other changes will supply (applicability reasons, facts, upcoming
obligations, user-supplied framework files).
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from controls.approvals import decisions, load_policy
from controls.graph import load_graph
from reports.model import report_context
from reports.render import render_html
from tests.reports.conftest import unzip
from tests.reports.pdf_world import DIGEST, PIPELINE_OWNER, rich_fixture  # noqa: F401 (fixture 'rich')
from tests.reports.pdftext import Page, read_pages

RED = (198, 40, 40)  # .fail in print.css (#c62828)


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def between(text: str, start: str, end: str) -> str:
    """The text from ``start`` up to ``end`` (one table row, read in order)."""
    i = text.index(start)
    return text[i: text.index(end, i + len(start))]


@pytest.fixture(scope="module")
def pages(rich) -> list[Page]:
    return read_pages(rich.pdf)


def section(pages: list[Page], title: str) -> list[Page]:
    """The pages from the one whose lines start a section ``title`` on."""
    first = next(i for i, p in enumerate(pages) if title in p.lines)
    return pages[first:]


def colour_of(page: Page, line: str, word: str) -> set[tuple[int, int, int]]:
    """Fill colours of ``word`` where it is drawn on the line that reads ``line``."""
    idx = page.lines.index(line)
    text = "".join(c.text for c in page.chars)
    before = sum(len(compact(x)) for x in page.lines[:idx])
    start = text.index(compact(line), before) + compact(line).index(word)
    return {c.colour for c in page.chars[start: start + len(word)]}


@pytest.mark.pdf
def test_the_failing_robustness_run_shows_metric_value_threshold_and_fail_in_red(pages) -> None:
    row = "accuracy_drop_under_noise 0.061 ≤ 0.05 FAIL"
    # the summary may run onto a second page (the gate's reasons and notes come first)
    first_pages = section(pages, "Executive summary")[:2]
    summary = next(p for p in first_pages if row in p.lines)
    assert any("Failing evaluations" in p.lines for p in first_pages)
    assert colour_of(summary, row, "FAIL") == {RED}
    # suite, model version and datasets are stated with it
    assert any("Suite robustness · model version 2.1.0 · datasets noisy-bureau-2026q3 · run reported FAIL" in line
               for p in first_pages for line in p.lines)
    # The evidence index states every run's metrics the same way; the failing one in red.
    index = section(pages, "Evidence index: every record in words")
    lines = {re.sub(r"\s+", " ", line.strip()): (p, line) for p in index for line in p.lines}
    assert "demographic_parity_gap 0.031 ≤ 0.05 PASS" in lines and "brier 0.142 none no threshold" in lines
    page, line = lines["accuracy_drop_under_noise 0.061 ≤ 0.05 FAIL"]
    assert colour_of(page, line, "FAIL") == {RED}
    page, line = lines["demographic_parity_gap 0.031 ≤ 0.05 PASS"]
    assert RED not in colour_of(page, line, "PASS")


@pytest.mark.pdf
def test_the_exception_that_waives_it_is_named_with_its_days_left(pages) -> None:
    summary = section(pages, "Executive summary")
    text = "\n".join(p.text for p in summary[:2])
    assert "Decides control: EVAL-ROBUST-01 (excepted: exception #16 until 2026-11-23T14:00:00Z, 20 days left)" in text
    expiring = compact(between(text, "Exceptions expiring within 30 days", "Pending reclassifications"))
    assert compact("#16") in expiring and compact("waives EVAL-ROBUST-01 until 2026-11-23T14:00:00Z: 20 days left") \
        in expiring and compact("compensating: OPS-MONITOR-01") in expiring


@pytest.mark.pdf
def test_the_release_gate_verdict_and_its_reasons(pages) -> None:
    text = "\n".join(p.text for p in section(pages, "Executive summary")[:2])
    assert "FAIL: model version 2.1.0 may not be released as of 2026-11-03T09:00:00Z" in text
    reasons = compact(between(text, "FAIL: model version", "Failing evaluations"))
    assert compact("open high incident against 2.1.0 (entry 21: Approval-rate drift in segment B)") in reasons
    assert compact("release approval approved: 2/2 RAI lead, Head of Risk, 2026-11-01T21:00:00Z") in reasons
    # the pending withdrawal of the failing run and the reclassification are noted, not applied
    assert compact("Note: retract of entry 8 by entry 22 is pending") in reasons
    # open incidents and pending reclassifications have their own paragraphs
    assert compact("high “Approval-rate drift in segment B”") in compact(text)
    assert "reported to the authority: yes" in text
    assert compact("risk_tier: high → medium (a downgrade): pending, 0/2 approver(s)") in compact(text)


@pytest.mark.pdf
def test_documents_and_risk_registers_in_words(pages) -> None:
    index = "\n".join(p.text for p in section(pages, "Evidence index: every record in words"))
    assert "model card “Credit scoring model card v2.1”, model version 2.1.0" in index
    assert "artifact model-card.md, SHA-256:" in index and DIGEST in index  # the digest whole, on one line
    assert "data sheet “Bureau data sheet v2”, model version 2.1.0" in index and "supersedes #12 (document)" in index
    # The risk register: its own table, and in words in the index.
    risks = "\n".join(p.text for p in section(pages, "Risk assessments"))
    assert "Risk tier high, residual risk medium" in risks and "model version 2.1.0" in risks
    r1 = compact(between(risks, "R-1", "R-2"))
    for cell in ("Disparate impact on protected groups in approval rates", "high", "possible",
                 "Fairness gate on every release; quarterly bias audit", "RAI lead"):
        assert compact(cell) in r1, cell
    r2 = compact(between(risks, "R-2", "Decides"))
    for cell in ("Degraded accuracy under noisy bureau data", "medium", "likely", "not named"):
        assert compact(cell) in r2, cell
    assert compact("R-2: severity medium, likelihood likely, owner not named: Degraded accuracy under noisy bureau "
                   "data; mitigation: Robustness suite; manual review of incomplete inputs") in compact(index)
    # where the model card decides a requirement, the requirement table says what it is
    requirements = "\n".join(p.text for p in section(pages, "Requirements: NIST AI Risk Management Framework"))
    assert compact("model_card “Credit scoring model card v2.1” for model 2.1.0, sha256 3a7bd3e2360a…") \
        in compact(requirements)


@pytest.mark.pdf
def test_approvals_state_approver_role_time_decision_and_conditions(pages) -> None:
    index = compact("\n".join(p.text for p in section(pages, "Evidence index: every record in words")))
    assert compact(f"approve #5 (model_version, submitted by {PIPELINE_OWNER}) by approver RAI lead, "
                   "role approver, key") in index
    assert compact("at 2026-11-01T21:00:00Z; counted; the target is approved") in index
    assert index.count(compact("condition: Monitor approval-rate parity weekly for the first month")) == 2
    # and in the approvals table, with the time of each approval
    table = compact("\n".join(p.text for p in section(pages, "Approvals and separation of duties")))
    assert compact("by RAI lead (approver), 2026-11-01T21:00:00Z condition: Monitor approval-rate parity weekly") \
        in table


@pytest.mark.pdf
def test_retractions_and_supersessions_say_who_what_and_why(pages) -> None:
    text = "\n".join(p.text for p in section(pages, "Withdrawals and reclassifications"))
    superseded = compact(between(text, "supersession of #12", "retraction of #8"))
    assert compact(f"{PIPELINE_OWNER} (pipeline), 2026-11-01T16:00:00Z: v1 listed the 2025 bureau extract; "
                   "corrected to 2026q3") in superseded and "effective" in superseded
    retracted = compact(between(text, "retraction of #9", "supersession of #12"))
    assert "wrongmodelcardattached" in retracted and "effective" in retracted
    pending = compact(between(text, "retraction of #8", "Key registry"))
    assert "flakytestenvironment" in pending and "pending" in pending


@pytest.mark.pdf
def test_the_cover_states_a_user_supplied_policy(pages, world) -> None:
    cover = pages[0].text
    assert "Assessed against definitions that are not the built-in defaults." in cover
    assert "Approval policy: strict-policy.yaml, not the built-in policy" in cover
    assert "user-supplied (not the built-in)" in cover
    default_cover = read_pages(unzip(world.package)["audit.pdf"])[0].text
    assert "not the built-in defaults" not in default_cover
    assert "Approval policy built-in" in default_cover and "Framework definitions built-in only" in default_cover


def _context(world, **extra):
    report = world.result.report
    policy = load_policy()
    return report_context(report, decisions=decisions(report.view, policy=policy), keys=[],
                          records=sorted(report.view.by_hash.values(), key=lambda e: e.seq), package=None,
                          generator="test", policy=policy, graph=load_graph(user_dir=None), **extra)


@pytest.mark.pdf
def test_not_applicable_requirements_show_reason_and_date(world, monkeypatch) -> None:
    eu = next(fc for fc in world.result.report.frameworks if fc.framework_id == "eu-ai-act")
    na = [r for r in eu.requirements if r.status == "not_applicable"]
    verdict = SimpleNamespace(reason="applies from 2027-12-02: Annex III high-risk, Art 113(c)",
                              applies_from=dt.date(2027, 12, 2), missing_facts=())
    monkeypatch.setattr(na[0], "reason", verdict, raising=False)
    monkeypatch.setattr(na[1], "reason", "only for deployers", raising=False)
    html = render_html(_context(world))
    assert "Why it does not apply" in html
    row = html[html.index(f"<b class=\"nw\">{na[0].requirement_id}</b>"):]
    row = re.sub(r"<[^>]+>", "", row[: row.index("</tr>")])
    assert "applies from 2027-12-02: Annex III high-risk, Art 113(c)" in row and "2027-12-02" in row
    assert "only for deployers" in html


@pytest.mark.pdf
def test_facts_upcoming_obligations_and_user_definitions(world, monkeypatch) -> None:
    monkeypatch.setitem(world.result.report.view.record.fields, "facts",
                        {"annex_iii_point": "5(b)", "placed_on_market": True})
    upcoming = [{"framework": "eu-ai-act", "requirement": "Art-26.1", "title": "Use according to instructions",
                 "applies_from": dt.date(2027, 8, 2), "reason": "deployer duty, high-risk"}]
    files = [SimpleNamespace(name="acme-controls.yaml", origin="user", sha256="ab" * 32)]
    html = render_html(_context(world, upcoming=upcoming, definitions=files))
    assert "annex_iii_point: 5(b)" in html and "placed_on_market: yes" in html
    assert "Obligations starting within a year" in html and "Art-26.1" in html and "2027-08-02" in html
    assert "User-supplied definition files (1)" in html and "acme-controls.yaml" in html
    assert "not the built-in defaults" in html
    without = render_html(_context(world))
    assert "Obligations starting within a year" not in without and "not the built-in defaults" not in without


def test_the_package_lists_what_starts_within_its_horizon(world) -> None:
    """The PDF's 'obligations starting within a year' come from the same rules as 'coverage --horizon'."""
    from reports.assess import upcoming

    report = world.result.report
    graph, policy = load_graph(user_dir=None), load_policy()
    soon = upcoming(graph, report, policy=policy)
    as_of = report.as_of.date()
    assert soon and all(as_of < u["applies_from"] <= as_of + dt.timedelta(days=365) for u in soon)
    assert "Art-5.1.ba" in {u["requirement"] for u in soon}  # a new prohibition from 2026-12-02
    assert "Art-9.1" not in {u["requirement"] for u in soon}  # Annex III duties start 2027-12-02
    later = upcoming(graph, report, policy=policy, days=400)
    annex_iii = [u for u in later if u["framework"] == "eu-ai-act" and u["requirement"] == "Art-9.1"]
    assert annex_iii and annex_iii[0]["applies_from"] == dt.date(2027, 12, 2) and annex_iii[0]["reason"]
    assert [u["applies_from"] for u in later] == sorted(u["applies_from"] for u in later)
