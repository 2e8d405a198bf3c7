"""audit.pdf's layout, checked character by character on every page of two packages.

* Nothing is drawn outside the page's content box (A4 less the margins in
  print.css) but the running header, on one line in the top margin, and the
  footer in the bottom margin; nothing straddles the box's edge; no two
  characters on a line overlap (text pushed out of a cell into the next).
* Identifiers never break across lines: requirement and control ids, entry
  numbers, shortened hashes, key fingerprint groups, full hashes in the index,
  timestamps.
* Times are stated to the second; text cut to fit ends in "…".
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import pytest

from tests.reports.pdf_world import PIPELINE_OWNER, SYSTEM, rich_fixture  # noqa: F401 (fixture 'rich')
from tests.reports.pdftext import Page, page_margins, read_pages

TOLERANCE = 0.5  # points: glyph boxes are computed, not exact
KERNING = 0.2  # of the font size: the most a kerned pair may overlap
PACKAGES = ["world", "rich", "internal"]


@pytest.fixture(scope="module", params=PACKAGES)
def package(request) -> tuple[str, object, list[Page]]:
    """(name, coverage report, pages) for each package, and the internal report of ``world``."""
    if request.param == "internal":
        from controls import service
        from controls.approvals import load_policy
        from controls.graph import load_graph
        from ledger.db import make_engine
        from reports.package import build_report
        from tests.reports.conftest import AS_OF

        world = request.getfixturevalue("world")
        engine = make_engine(world.db_url)
        graph, policy = load_graph(user_dir=None), load_policy()
        pdf = build_report(engine, "credit-scoring", graph=graph, policy=policy, as_of=AS_OF, fmt="pdf")
        report = service.coverage(engine, "credit-scoring", graph=graph, policy=policy, as_of=AS_OF)
        engine.dispose()
        return request.param, report, read_pages(pdf)
    fixture = request.getfixturevalue(request.param)
    from tests.reports.conftest import unzip

    pdf = unzip(fixture.result.data)["audit.pdf"]
    return request.param, fixture.result.report, read_pages(pdf)


def _outside(page: Page) -> list[str]:
    top, right, bottom, left = page_margins()
    box_bottom, box_top = bottom, page.height - top
    problems = []
    for c in page.chars:
        where = f"page {page.number}: {c.text!r} at x {c.left:.1f}-{c.right:.1f}, y {c.bottom:.1f}-{c.top:.1f}"
        if c.left < left - TOLERANCE or c.right > page.width - right + TOLERANCE:
            over = max(left - c.left, c.right - (page.width - right))
            problems.append(f"{where}: {over / (72 / 25.4):.1f} mm left or right of the content box")
        in_box = c.bottom >= box_bottom - TOLERANCE and c.top <= box_top + TOLERANCE
        in_header = c.bottom >= box_top - TOLERANCE and c.top <= page.height
        in_footer = c.bottom >= 0 and c.top <= box_bottom + TOLERANCE
        if not (in_box or in_header or in_footer):
            problems.append(f"{where}: straddles the content box's top or bottom edge, or leaves the page")
    return problems


@pytest.mark.pdf
def test_every_character_is_inside_the_content_box_or_a_margin_band(package) -> None:
    name, _, pages = package
    problems = [p for page in pages for p in _outside(page)]
    assert problems == [], f"{name}: {len(problems)} characters out of place, first: {problems[:10]}"


@pytest.mark.pdf
def test_running_header_is_one_line(package) -> None:
    name, _, pages = package
    top, *_ = page_margins()
    for page in pages[1:]:  # the cover has none
        header = [c for c in page.chars if c.bottom >= page.height - top - TOLERANCE]
        assert header, f"{name} page {page.number} has no running header"
        baselines = {round(c.origin_y) for c in header}
        assert len(baselines) == 1, f"{name} page {page.number}: the header is on {len(baselines)} lines"


@pytest.mark.pdf
def test_no_two_characters_on_a_line_overlap(package) -> None:
    name, _, pages = package
    problems = []
    for page in pages:
        rows: dict[int, list] = defaultdict(list)
        for c in page.chars:
            rows[round(c.origin_y * 2)].append(c)
        for chars in rows.values():
            chars.sort(key=lambda c: c.advance_left)
            for a, b in itertools.pairwise(chars):
                if abs(a.advance_left - b.advance_left) < TOLERANCE and abs(a.advance_right - b.advance_right) < TOLERANCE:
                    continue  # one ligature glyph ("fi") read as two characters: one box
                # Kerning pulls a pair together by a fraction of an em ("fi", "FA"); text
                # pushed out of its cell runs into the next one by much more.
                if b.advance_left < a.advance_right - max(TOLERANCE, KERNING * a.size):
                    problems.append(f"page {page.number}: {a.text!r} and {b.text!r} overlap at x {b.left:.1f}")
    assert problems == [], f"{name}: {problems[:10]}"


def _broken(pages: list[Page], tokens: set[str]) -> list[str]:
    """Tokens that occur in the text only when line breaks are removed: split across lines."""
    out = []
    for page in pages:
        joined = "".join(page.lines)
        for t in tokens:
            whole = sum(line.count(t) for line in page.lines)
            if joined.count(t) > whole:
                out.append(f"page {page.number}: {t!r} broken across lines")
    return out


@pytest.mark.pdf
def test_identifiers_are_never_broken_across_lines(package) -> None:
    _name, report, pages = package
    tokens = {r.requirement_id for fc in report.frameworks for r in fc.requirements if len(r.requirement_id) > 3}
    tokens |= {c for c in report.controls} | {report.system}
    tokens |= {e.entry_hash[:12] + "…" for e in report.view.by_hash.values()}
    tokens |= {e.entry_hash for e in report.view.by_hash.values()}  # the index states them whole
    text = "\n".join(p.text for p in pages)
    tokens |= set(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text))
    assert _broken(pages, tokens) == []
    # Key fingerprints break only between 16-digit groups.
    keys = {e.signer_key_id for e in report.view.by_hash.values()}
    groups = {k[i: i + 16] for k in keys for i in range(0, 64, 16)}
    assert groups and _broken(pages, groups) == []


@pytest.mark.pdf
def test_times_are_to_the_second_and_cut_text_ends_in_an_ellipsis(package) -> None:
    name, _, pages = package
    text = "\n".join(p.text for p in pages)
    assert not re.findall(r"\d\d:\d\d:\d\d\.\d+", text), "a time with fractions of a second"
    assert not re.findall(r"T\d\d:\d\dZ", text), "a time to the minute"
    assert re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    if name == "rich":
        # The pipeline key's owner is longer than the index's signer column: cut, with "…".
        index = [line for p in pages for line in p.lines if re.match(r"\s*\d+ evaluation\s", line)]
        assert index and all(PIPELINE_OWNER[:17] + "…" in line for line in index), index[:3]
        # The running header cuts the 41-character system id, with "…".
        assert any(f"Audit package · {SYSTEM[:31]}… · as of 2026-11-03T09:00:00Z" in line for line in pages[1].lines)


@pytest.mark.pdf
def test_the_checks_catch_what_they_look_for() -> None:
    """A page that breaks each rule: text past the right edge, text run into the next
    cell, an id broken at its hyphen. (The layout before issue 13 had the first:
    pages 12-15 of the demo package ran 7.3-7.7 mm past the right edge.)"""
    from reports.render import html_to_pdf

    top, right, bottom, left = (v / (72 / 25.4) for v in page_margins())
    html = f"""<html><head><style>@page {{ size: A4; margin: {top}mm {right}mm {bottom}mm {left}mm }}
    body {{ font-family: 'DejaVu Sans'; font-size: 9pt }}</style></head><body>
    <p style="white-space: nowrap">{"overflowing text " * 20}</p>
    <table style="table-layout: fixed; width: 60mm"><tr><td style="width: 20mm; white-space: nowrap">
    VERY-LONG-CONTROL-ID-01</td><td>next cell</td></tr></table>
    <p style="width: 25mm">see control DOC-TECHDOC-01 now</p></body></html>"""
    import datetime as dt

    pages = read_pages(html_to_pdf(html, created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), variant=None))
    assert any("left or right of the content box" in p for p in _outside(pages[0]))
    assert _broken(pages, {"DOC-TECHDOC-01"}) == ["page 1: 'DOC-TECHDOC-01' broken across lines"]
    rows: dict[int, list] = defaultdict(list)
    for c in pages[0].chars:
        rows[round(c.origin_y * 2)].append(c)
    cell_row = next(r for r in rows.values() if any(c.text == "V" for c in r))  # VERY-LONG… and "next cell"
    cell_row.sort(key=lambda c: c.advance_left)
    assert any(b.advance_left < a.advance_right - KERNING * a.size for a, b in itertools.pairwise(cell_row))
