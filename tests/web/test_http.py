"""The web view over HTTP on SQLite and PostgreSQL: sign-in and its cookie, CSRF on every
form, revocation ending a session, roles, the numbers the CLI prints, the calendar feed,
and Swagger UI served from the server itself."""

from __future__ import annotations

import datetime as dt
import json
import re

import httpx

from ledger.ingest import Document
from tests.conftest import T0, eval_record

EXCEPTION = {
    "kind": "exception", "system": "credit-scoring", "observed_at": "2026-11-02T00:00:00Z",
    "controls": ["EVAL-ROBUST-01"], "rationale": "noise is lower in production",
    "compensating_controls": ["OPS-MONITOR-01"], "owner": "Head of Risk", "expires_at": "2027-01-15T00:00:00Z",
    "remediation": "retrain"}


def _world(ledger, keys):
    at = T0 + dt.timedelta(days=1)
    ledger.append([Document("e1", eval_record()), Document("e2", eval_record(suite="robustness", passed=False))],
                  signing_key=keys.pipeline, now=at)
    ledger.append([Document("x", EXCEPTION)], signing_key=keys.approver, now=at)
    return ledger


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _sign_in(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/web/login")
    return client.post("/web/login", data={"token": token, "csrf": _csrf(form.text), "next": "/web/"})


def test_sign_in_cookie_csrf_and_revocation(ledger, keys, tokens, serve, run_cli, db_url):
    _world(ledger, keys)
    srv = serve()
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.get("/web/").headers["location"] == "/web/login?next=%2Fweb%2F"
        form = c.get("/web/login")
        # A login post without the form's CSRF value (say, from another site) signs nobody in.
        refused = c.post("/web/login", data={"token": tokens["viewer"], "csrf": "forged"})
        assert refused.status_code == 403 and "assure_session" not in refused.headers.get("set-cookie", "")
        bad = c.post("/web/login", data={"token": "not-a-token", "csrf": _csrf(form.text)})
        assert bad.status_code == 400 and "assure_session" not in bad.headers.get("set-cookie", "")
        ok = _sign_in(c, tokens["viewer"])
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "assure_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
            "Strict", "strict")
        page = c.get("/web/")
        assert page.status_code == 200 and "credit-scoring" in page.text
        # Logging out needs the session's CSRF value too.
        assert c.post("/web/logout", data={"csrf": "forged"}).status_code == 403
        assert c.get("/web/").status_code == 200
        # Revoking the token ends the session at the next request.
        token_id = next(t["token_id"] for t in json.loads(run_cli("tokens", "list", "--json", db=db_url).output)
                        if t["role"] == "viewer")
        assert run_cli("tokens", "revoke", token_id, db=db_url).exit_code == 0
        assert c.get("/web/").headers["location"].startswith("/web/login")


def test_pages_show_what_the_cli_prints_and_roles_decide(ledger, keys, tokens, serve, run_cli, db_url):
    _world(ledger, keys)
    srv = serve()
    cov = json.loads(run_cli("coverage", "--system", "credit-scoring", "--json", db=db_url).output)
    (exc,) = json.loads(run_cli("exceptions", "--json", db=db_url).output)
    with httpx.Client(base_url=srv.url, timeout=60) as viewer, httpx.Client(base_url=srv.url, timeout=60) as auditor:
        _sign_in(viewer, tokens["viewer"])
        _sign_in(auditor, tokens["auditor"])
        row = re.search(r"<tr>\s*<th scope=\"row\"><a href=\"/web/systems/credit-scoring\">.*?</tr>",
                        viewer.get("/web/").text, re.DOTALL).group(0)
        for f in cov["frameworks"]:
            assert f'data-value="{f["percent_covered"]}"' in row
        # The system page lists every model version with its release approval and traces the current one.
        system_page = viewer.get("/web/systems/credit-scoring").text
        assert "2.1.0 <span class=\"small\">(traced below)</span>" in system_page
        assert "Trace of model version 2.1.0" in system_page and "Evaluation robustness" in system_page
        assert viewer.get("/web/systems/credit-scoring", params={"version": "9.9"}).status_code == 404
        exc_page = viewer.get("/web/exceptions").text
        assert re.search(rf'data-exception="{exc["seq"]}">\s*<td data-value="{exc["days_left"]}"', exc_page)
        # The KPI cards are 'assure kpis' at the page's as-of time; its trend ends on the same answer.
        kpis_page = viewer.get("/web/kpis", params={"as_of": "2026-12-20T00:00:00Z"}).text
        kpis = json.loads(run_cli("kpis", "--json", "--as-of", "2026-12-20T00:00:00Z", db=db_url).output)
        fresh = kpis["evidence_freshness"]
        assert f"<h2>Evidence freshness</h2><p class=\"big\">{fresh['value']}%</p>" in kpis_page
        assert re.search(rf'aria-label="Evidence freshness \(%\): [^"]*12-20[^,"]* {fresh["value"]}"', kpis_page)
        # A viewer sees no payload and no package; an auditor sees both.
        entry = viewer.get(f"/web/entries/{exc['seq']}")
        assert entry.status_code == 200 and "noise is lower in production" not in entry.text
        assert "noise is lower in production" in auditor.get(f"/web/entries/{exc['seq']}").text
        assert viewer.get("/web/packages").status_code == 403
        csrf = _csrf(viewer.get("/web/").text)
        assert viewer.post("/web/packages", data={"system": "credit-scoring", "csrf": csrf}).status_code == 403
        # An auditor's form without the CSRF value builds nothing.
        assert auditor.post("/web/packages", data={"system": "credit-scoring"}).status_code == 403
        # Bad input is a page naming the field, not a traceback.
        bad = viewer.get("/web/", params={"as_of": "yesterday"})
        assert bad.status_code == 400 and "as_of" in bad.text and "Traceback" not in bad.text
        assert viewer.get("/web/systems/nope").status_code == 404
        # Verifying the whole ledger from the Ledger page: auditors only, with the CSRF value; the page records it.
        assert "Not recorded by this server" in viewer.get("/web/ledger").text
        assert viewer.post("/web/ledger/verify", data={"csrf": csrf}).status_code == 403
        ledger_page = auditor.get("/web/ledger").text
        assert auditor.post("/web/ledger/verify", data={"csrf": "forged"}).status_code == 403
        assert auditor.post("/web/ledger/verify", data={"csrf": _csrf(ledger_page)}).status_code == 303
        verified = json.loads(run_cli("verify", "--json", db=db_url).output)
        assert f"intact</span>: {verified['entries']} entries" in viewer.get("/web/ledger").text
        # Signing out with the session's CSRF value ends the session.
        assert viewer.post("/web/logout", data={"csrf": csrf}).status_code == 303
        assert viewer.get("/web/").status_code == 303


def test_calendar_feed_and_local_swagger(ledger, keys, tokens, serve, db_url):
    _world(ledger, keys)
    srv = serve()
    with httpx.Client(base_url=srv.url, timeout=60) as c, httpx.Client(base_url=srv.url, timeout=60) as lead:
        assert c.get("/web/calendar.ics").status_code == 401
        # The API token itself never goes in an address (it would sit in access and proxy logs).
        assert c.get("/web/calendar.ics", params={"token": tokens["viewer"]}).status_code == 401
        _sign_in(lead, tokens["viewer"])
        feed = re.search(r'href="(/web/calendar.ics\?feed=[^"]+)"', lead.get("/web/").text).group(1)
        key = feed.split("feed=")[1]
        assert tokens["viewer"] not in feed
        # The feed key opens the feed and nothing else; a forged one opens nothing.
        assert c.get("/v1/systems", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        assert c.get("/web/calendar.ics", params={"feed": key[:-1] + ("0" if key[-1] != "0" else "1")}).status_code == 401
        ics = c.get(feed)
        assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
        text = ics.text
        assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
        assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
        unfolded = text.replace("\r\n ", "")
        assert "DTSTART;VALUE=DATE:20270115\r\nDTEND;VALUE=DATE:20270116\r\nSUMMARY:Exception expires: " \
               "credit-scoring (EVAL-ROBUST-01)" in unfolded
        # Annex III high-risk obligations apply to this provider from 2027-12-02 (as coverage --horizon says).
        assert re.search(r"DTSTART;VALUE=DATE:20271202\r\n.*\r\nSUMMARY:EU AI Act: \d+ requirement\(s\) apply to "
                         r"credit-scoring", unfolded)
        docs = c.get("/docs")
        assert docs.status_code == 200
        urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]|url:\s*['"]([^'"]+)['"]""", docs.text)
        assert urls and all(u.startswith("/") for pair in urls for u in pair if u)
        assert "http://" not in docs.text and "https://" not in docs.text
        for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
            assert c.get(asset).status_code == 200


def test_record_text_is_shown_as_text_never_as_markup(ledger, keys, tokens, serve):
    """A pipeline or approver key writes markup into a record; no page runs it (stored XSS)."""
    markup = "<script>alert('owned')</script>"
    hostile = EXCEPTION | {"owner": markup, "rationale": f"see <img src=x onerror=alert(1)> {markup}"}
    at = T0 + dt.timedelta(days=1)
    ledger.append([Document("e1", eval_record())], signing_key=keys.pipeline, now=at)
    ledger.append([Document("x", hostile)], signing_key=keys.approver, now=at)
    srv = serve()
    with httpx.Client(base_url=srv.url, timeout=60) as auditor:
        _sign_in(auditor, tokens["auditor"])
        seq = int(re.search(r'data-exception="(\d+)"', auditor.get("/web/exceptions").text).group(1))
        for path in ("/web/exceptions", f"/web/entries/{seq}", "/web/systems/credit-scoring"):
            page = auditor.get(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(" in auditor.get("/web/exceptions").text


def test_no_page_can_be_framed_sniffed_redirected_elsewhere_or_fed_after_revocation(ledger, keys, tokens, serve,
                                                                                    run_cli, db_url):
    """What a hostile site or a leaked address tries: framing the package form (clickjacking),
    a login link that sends the signed-in user to another site, a referrer carrying an address,
    and a calendar feed address used after its token was revoked."""
    _world(ledger, keys)
    srv = serve()
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        _sign_in(c, tokens["auditor"])
        for path in ("/web/", "/web/packages", "/web/systems/credit-scoring", "/web/login", "/v1/systems"):
            h = c.get(path).headers
            assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
            assert h["referrer-policy"] == "no-referrer", path
            if path.startswith("/web/"):
                csp = h["content-security-policy"]
                assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in \
                    csp.split("script-src")[1].split(";")[0], path
        feed = re.search(r'href="(/web/calendar.ics\?feed=[^"]+)"', c.get("/web/").text).group(1)
        assert c.get(feed).status_code == 200
    with httpx.Client(base_url=srv.url, timeout=60) as visitor:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                       "/web/../\\evil.example", "http:/evil.example"):
            form = visitor.get("/web/login", params={"next": target})
            done = visitor.post("/web/login", data={"token": tokens["viewer"], "csrf": _csrf(form.text),
                                                    "next": target})
            assert done.status_code == 303 and done.headers["location"].startswith("/web/"), target
            assert "evil" not in done.headers["location"], target
            visitor.cookies.clear()
    auditor_id = next(t["token_id"] for t in json.loads(run_cli("tokens", "list", "--json", db=db_url).output)
                      if t["role"] == "auditor")
    assert run_cli("tokens", "revoke", auditor_id, db=db_url).exit_code == 0
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.get(feed).status_code == 401
