"""A real ``assure serve`` over a demo-like ledger, and Debian's Chromium driven by Playwright.

One server and one browser per module (the ledger is the package tests' ``populate``:
two systems, evaluations, a failing one, an exception with approvals, an incident, a
revoked key, checkpoints). Chromium comes from Debian (``scripts/web-test-deps.sh``
installs it when missing, as root); axe-core from its npm package, installed by the
same script under ``.venv/``. Without them the browser tests are skipped, saying why.
Screenshots go to ``test-artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger import migrate
from ledger.api_tokens import create_token
from ledger.db import make_engine
from ledger.store import Ledger
from tests.conftest import Keys
from tests.reports.conftest import keys_s, populate  # noqa: F401 (keys_s is a fixture)
from tests.server.conftest import Server, running_server, serve, tokens  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ASSURE_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(os.environ.get("ASSURE_TEST_AXE", ROOT / ".venv" / "web-test" / "node_modules" / "axe-core" / "axe.min.js"))
ARTIFACTS = Path(os.environ.get("ASSURE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "web"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Site:
    """The running server, its database, tokens by role and the admin key's files."""

    server: Server
    db_url: str
    tokens: dict[str, str]
    dir: Path

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, keys_s: Keys) -> Iterator[Site]:  # noqa: F811
    d = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{d / 'ledger.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    populate(Ledger(engine), keys_s)
    toks = {role: create_token(engine, role=role, name=f"web {role}")[0] for role in ("viewer", "auditor", "admin")}
    engine.dispose()
    (d / "admin.pem").write_bytes(keys_s.admin.to_pem())
    (d / "admin.pem.pub").write_bytes(keys_s.admin.public.to_pem())
    with running_server(url, "--checkpoint-key", str(d / "admin.pem"), "--no-access-log",
                        log=d / "serve.log") as srv:
        yield Site(srv, url, toks, d)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: 'make test' installs Debian's chromium when run as root")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra: make install")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"no axe-core at {AXE}: 'make test' installs it with npm (scripts/web-test-deps.sh)")
    return AXE.read_text()


def login(browser: Any, site: Site, role: str, *, width: int = 1280, height: int = 900,
          accept_downloads: bool = False, bypass_csp: bool = False) -> Any:
    """A new browser context signed in through the login form with ``role``'s token; the
    page's ``csp_violations`` collects what the browser refused under the pages' policy
    (``bypass_csp`` only for a test that injects its own inline script: axe-core)."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=accept_downloads,
                                  bypass_csp=bypass_csp)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda m: page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(site.url + "/web/")
    assert "/web/login" in page.url
    page.get_by_label("Token").fill(site.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url + "/web/")
    return page
