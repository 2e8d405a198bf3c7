"""Real servers for the HTTP tests: ``assure serve`` in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledger.api_tokens import create_token
from ledger.dsse import sign_envelope
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes

ASSURE = str(Path(sys.executable).with_name("assure"))
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@contextmanager
def running_server(db_url: str, *args: str, log: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``assure serve --port 0 ARGS`` until it says where it listens; stopped (SIGTERM, then SIGKILL) after."""
    out = log.open("w+")
    proc = subprocess.Popen([ASSURE, "--db", db_url, "serve", "--port", "0", "--log-level", "info", *args],
                            stdout=out, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, cwd=log.parent)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.1)
            m = _RUNNING.search(log.read_text())
            port = m.group(1) if m else None
        yield Server(f"http://127.0.0.1:{port}", proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[str, str]:
    """One token per role (plus ``pipeline2``)."""
    out = {role: create_token(engine, role=role, name=f"test {role}")[0]
           for role in ("viewer", "auditor", "pipeline", "admin")}
    out["pipeline2"] = create_token(engine, role="pipeline", name="second pipeline")[0]
    return out


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``serve(*args)`` starts a server on the test's database (stopped at the end)."""
    stack = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        cm = running_server(db_url, *args, log=tmp_path / f"serve-{len(stack)}.log", env=env)
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def server(ledger: Any, tokens: dict[str, str], serve: Callable[..., Server]) -> Server:
    """A server over the ``ledger`` fixture's database."""
    return serve()


def envelope(record: dict[str, Any], key: PrivateKey) -> dict[str, Any]:
    """``record`` signed by ``key`` (what 'assure sign' writes)."""
    return sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(record)), key).to_json()


def jsonl(envelopes: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in envelopes).encode()
