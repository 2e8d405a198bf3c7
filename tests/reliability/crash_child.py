"""Run ``assure`` (argv as given) and announce on stdout when its append starts writing.

Used by test_crash.py: the parent waits for the ``writing`` line, which is
printed just before the first INSERT of the append's write transaction (the
payload rows), then kills this process with SIGKILL after a chosen delay, so
the kill lands inside the transaction, during the commit or just after it.
Nothing else differs from the real command.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_announced = False


@event.listens_for(Engine, "before_cursor_execute")
def _announce(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    """Print ``writing`` once, right before the first row of the batch is inserted."""
    global _announced
    if not _announced and statement.startswith("INSERT INTO payload"):
        _announced = True
        sys.stdout.write("writing\n")
        sys.stdout.flush()


if __name__ == "__main__":
    from cli.main import cli

    cli(sys.argv[1:], prog_name="assure")
