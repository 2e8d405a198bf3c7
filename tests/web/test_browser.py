"""The web view in Debian's Chromium: the flows a GRC lead and an auditor follow, what a
viewer is refused, the as-of date, and axe-core on every page at 1280 and 390 px."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.web.conftest import ARTIFACTS, Site, login

ASSURE = str(Path(sys.executable).with_name("assure"))
EARLIER = "2026-11-02"  # before the failing fairness run received on 2026-11-02 16:00


def cli_json(site: Site, *args: str) -> Any:
    out = subprocess.run([ASSURE, "--db", site.db_url, *args, "--json"], capture_output=True, text=True,
                         check=True, env={**os.environ, "ASSURE_CACHE_DIR": os.environ.get("ASSURE_CACHE_DIR", "")})
    return json.loads(out.stdout)


def days_left_cells(page: Any, seq: int) -> str:
    return page.locator(f'tr[data-exception="{seq}"] td.days-left').inner_text().strip()


def test_from_the_systems_page_down_to_one_entry(site: Site, browser: Any) -> None:
    page = login(browser, site, "auditor")
    assert page.get_by_role("heading", level=1).inner_text() == "Systems"
    page.get_by_role("link", name="credit-scoring").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Credit scoring")
    # A covered requirement of NIST AI RMF, then the control that decides it, then its evidence.
    covered = page.locator("table.reqs tr", has=page.locator(".s-covered")).first
    req_id = covered.locator("th a").inner_text()
    covered.locator("th a").click()
    assert req_id in page.get_by_role("heading", level=1).inner_text()
    assert page.locator(".s-covered").first.is_visible()
    page.locator("table th a").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Control ")
    entry_link = page.locator("table th a").first
    seq = int(re.search(r"\d+", entry_link.inner_text()).group())
    entry_link.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Entry {seq}")
    assert page.get_by_text("Verifies").first.is_visible()
    # The record in readable form (the auditor sees payloads) and who signed it, with the role.
    assert page.get_by_role("heading", name="Record").is_visible()
    assert page.get_by_role("heading", name="Signers").is_visible()
    described = cli_json(site, "show", str(seq))
    assert described["entry_hash"] in page.content()
    page.context.close()


def test_an_earlier_as_of_date_gives_the_earlier_answer(site: Site, browser: Any) -> None:
    page = login(browser, site, "viewer")
    page.get_by_role("link", name="Exceptions").click()
    (now,) = [x for x in cli_json(site, "exceptions") if x["system"] == "credit-scoring"]
    assert days_left_cells(page, now["seq"]) == str(now["days_left"])  # what 'assure exceptions' says
    page.get_by_label("As of").fill(EARLIER)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"as_of=2026-11-02"))
    (then,) = [x for x in cli_json(site, "exceptions", "--as-of", EARLIER) if x["system"] == "credit-scoring"]
    assert then["days_left"] != now["days_left"]
    assert days_left_cells(page, then["seq"]) == str(then["days_left"])
    # The date stays on every link: the system page shows fairness as it was then (passed).
    page.get_by_role("link", name="credit-scoring").click()
    assert "as_of=2026-11-02" in page.url
    trace_then = page.locator("ul.trace").first.inner_text()
    assert re.search(r"Evaluation fairness: passed", trace_then)
    page.get_by_role("link", name="Today").click()
    assert "as_of" not in page.url
    assert re.search(r"Evaluation fairness: failed", page.locator("ul.trace").first.inner_text())
    page.context.close()


def test_an_auditor_downloads_a_package_that_verifies(site: Site, browser: Any, tmp_path: Path) -> None:
    page = login(browser, site, "auditor", accept_downloads=True)
    page.get_by_role("link", name="Packages").click()
    page.get_by_label("System").select_option("credit-scoring")
    with page.expect_download(timeout=120_000) as info:
        # The answer is a download, not a page: the click waits for no navigation (a slow build would time it out).
        page.get_by_role("button", name="Build and download").click(no_wait_after=True)
    path = tmp_path / "package.zip"
    info.value.save_as(path)
    out = subprocess.run([ASSURE, "verify-package", str(path), "--trust-key", str(site.dir / "admin.pem.pub")],
                         capture_output=True, text=True, check=False,
                         env={k: v for k, v in os.environ.items() if k != "ASSURE_DB"})
    assert out.returncode == 0, out.stdout + out.stderr
    page.context.close()


def test_a_viewer_is_refused_packages_and_payloads(site: Site, browser: Any) -> None:
    page = login(browser, site, "viewer")
    response = page.goto(site.url + "/web/packages")
    assert response.status == 403
    assert "may not see" in page.locator(".error").inner_text()
    # Posting the form anyway (with the session's own CSRF value) is refused too.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    post = page.request.post(site.url + "/web/packages", form={"system": "credit-scoring", "csrf": csrf})
    assert post.status == 403 and post.headers["content-type"].startswith("text/html")
    page.goto(site.url + "/web/entries/8")
    assert page.get_by_text("Record payloads are shown to auditors and admins only").is_visible()
    assert "demographic_parity_gap" not in page.content()
    page.context.close()


PAGES = [
    ("systems", "/web/"),
    ("system", "/web/systems/credit-scoring"),
    ("requirement", "/web/systems/credit-scoring/requirement?id=nist-ai-rmf:MEASURE-2.11"),
    ("control", "/web/systems/credit-scoring/control?id=EVAL-FAIR-01"),
    ("entry", "/web/entries/8"),
    ("exceptions", "/web/exceptions"),
    ("kpis", "/web/kpis"),
    ("ledger", "/web/ledger"),
    ("packages", "/web/packages"),
    ("not-found", "/web/systems/no-such-system"),
]


def serious(page: Any, axe_source: str) -> list[dict[str, Any]]:
    page.add_script_tag(content=axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_every_page_passes_axe_and_fits_a_phone(site: Site, browser: Any, axe_source: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {}
    # axe-core goes in as an inline script, which the pages' Content-Security-Policy refuses (as it should):
    # these contexts bypass it; the other tests run under it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(site.url + "/web/login")
    page.screenshot(path=ARTIFACTS / "login-1280.png", full_page=True)
    found["login"] = serious(page, axe_source)
    context.close()
    for width in (1280, 390):
        page = login(browser, site, "auditor", width=width, height=844 if width == 390 else 900, bypass_csp=True)
        for name, path in PAGES:
            page.goto(site.url + path)
            page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
            found[f"{name}-{width}"] = serious(page, axe_source)
            # Readable on a phone: the page itself never scrolls sideways (wide tables scroll inside).
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
        page.context.close()
    assert {k: v for k, v in found.items() if v} == {}


def test_keyboard_reaches_the_content_and_sorts_a_table(site: Site, browser: Any) -> None:
    page = login(browser, site, "viewer")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    sort = page.locator("#systems-table thead button", has_text="System").first
    sort.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    first = page.locator("#systems-table tbody tr th a").first.inner_text()
    assert first == "other-system"  # descending after two presses
    # The pages run under their Content-Security-Policy and the browser refused nothing of theirs.
    page.goto(site.url + "/web/systems/credit-scoring")
    page.goto(site.url + "/web/kpis")
    assert page.csp_violations == []
    page.context.close()
