"""The bad-input harness: an initialised ledger and a way to throw a file at ``assure append``
and check it is refused cleanly with nothing written (used by every ``test_bad_input*`` module)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from ledger.store import Ledger
from tests.conftest import table_bytes


@dataclass
class Bad:
    """One invalid input: a file name and content, whether to pass --key, and the reason we expect."""

    name: str
    content: bytes
    reason: str
    with_key: bool = True


@dataclass
class Target:
    """An initialised ledger, its key files and a way to throw a file at ``assure append``."""

    ledger: Ledger
    db_url: str
    directory: Path
    keys: Any
    baseline: dict[str, list[tuple[Any, ...]]]
    run_cli: Callable[..., Result]

    def refuse(self, bad: Bad) -> Result:
        """Append ``bad`` and check it is refused cleanly with nothing written."""
        (self.directory / bad.name).write_bytes(bad.content)
        args = ["append", bad.name] + (["--key", "pipeline.pem"] if bad.with_key else [])
        result = self.run_cli(*args, db=self.db_url)
        assert result.exit_code == 2, f"{bad.name} was not refused with exit 2: {result.output}"
        assert result.stderr.startswith(f"Error: {bad.name}"), f"the message does not name the source: {result.stderr}"
        assert re.search(bad.reason, result.stderr), f"expected /{bad.reason}/ in: {result.stderr}"
        assert "Traceback" not in result.output
        assert table_bytes(self.ledger.engine) == self.baseline, f"{bad.name} changed the ledger"
        return result


@pytest.fixture
def target(ledger: Ledger, keys, db_url: str, tmp_path: Path, run_cli) -> Target:
    (tmp_path / "pipeline.pem").write_bytes(keys.pipeline.to_pem())
    return Target(ledger, db_url, tmp_path, keys, table_bytes(ledger.engine), run_cli)
