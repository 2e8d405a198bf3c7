"""What one server process holds: the engine, the ledger, the framework graph, the policy.

Built once per process; the graph and policy load on first use (coverage, gaps and
the like need them, appends and tiles do not).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ledger.db import make_engine
from ledger.errors import AssureError, LedgerStateError
from ledger.schema_version import SCHEMA_HEAD, stored_revision
from ledger.store import Ledger
from server.settings import Settings

log = logging.getLogger(__name__)


class State:
    """The shared objects of one server process (thread-safe to read)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # At most 20 connections per process (PostgreSQL allows 100 by default): one writer
        # (group commit) and readers; requests beyond wait for a connection.
        pool = {} if settings.db_url.startswith("sqlite") else {"pool_size": 8, "max_overflow": 12}
        self.engine: Engine = make_engine(settings.db_url, **pool)
        self._lock = threading.Lock()
        self._last_checkpoint = 0.0
        self.verify_lock = threading.Lock()
        self.last_verify: dict[str, Any] | None = None
        """The last full verification run from the web view by this process (when, result)."""

    def check_schema(self) -> None:
        """Refuse to serve a database that is not an up-to-date ledger.

        Raises:
            LedgerStateError: no ledger there, or its schema is outdated.
        """
        current = stored_revision(self.engine)
        if current is None:
            raise LedgerStateError("no ledger in this database: run 'assure init --admin-key PEM'")
        if current != SCHEMA_HEAD:
            raise LedgerStateError(f"the ledger schema is at {current}: run 'assure db upgrade'")

    def warm(self) -> None:
        """Before the first request: load the policy and the framework graph, put every object
        alive into the collector's permanent generation, then load every system's coverage view.

        The graph's objects live as long as the process, and the cyclic collector would walk
        them all on each full collection during a request (the KPI page at 100 systems: 260 ->
        196 ms of server time); the views are kept between requests (:mod:`controls.view_cache`),
        so the first visitor of the systems page does not wait for them. They are loaded after
        the freeze: they are replaced as entries arrive, and must stay collectable. A policy
        or framework file in error is reported by the requests that need it, as without warming.
        """
        try:
            _ = self.policy, self.graph
        except AssureError as e:
            log.warning("not warmed: %s", e)
            return
        finally:
            gc.collect()
            gc.freeze()
        import datetime as dt

        from controls import service

        try:
            service.coverage_views(self.engine, graph=self.graph, policy=self.policy, as_of=dt.datetime.now(dt.UTC),
                                   cache=self.views)
        except AssureError as e:
            log.warning("views not loaded ahead: %s", e)

    @cached_property
    def policy(self) -> Any:
        """The approval policy."""
        from controls.approvals import load_policy

        path = self.settings.policy_path
        return load_policy(Path(path) if path else None)

    @cached_property
    def graph(self) -> Any:
        """Frameworks and controls (built-in plus the user directory)."""
        from controls.graph import load_graph

        return load_graph(user_dir=Path(self.settings.frameworks_dir))

    @cached_property
    def views(self) -> Any:
        """Every system's coverage view, kept between requests (:mod:`controls.view_cache`)."""
        from controls.view_cache import ViewCache

        return ViewCache()

    @cached_property
    def ledger(self) -> Ledger:
        """The ledger as append sees it: control ids checked, the policy's exception limits."""
        import datetime as dt

        from controls.approvals import append_policy
        from frameworks.loader import control_ids

        known = control_ids(user_dir=Path(self.settings.frameworks_dir))
        return Ledger(self.engine, control_exists=known.__contains__,
                      policy=append_policy(self.policy, max_skew=dt.timedelta(seconds=self.settings.max_skew)))

    @cached_property
    def writer(self) -> Any:
        """The process's group-commit writer (see :mod:`server.group_commit`)."""
        from server.group_commit import GroupCommit

        return GroupCommit(self.ledger, max_docs=self.settings.max_batch)

    @cached_property
    def checkpoint_key(self) -> Any:
        """The admin key that signs checkpoints, if configured."""
        if not self.settings.checkpoint_key:
            return None
        import os

        from ledger.keys import load_private_key

        phrase = os.environ.get(self.settings.passphrase_env or "ASSURE_KEY_PASSPHRASE")
        return load_private_key(Path(self.settings.checkpoint_key), passphrase=phrase.encode() if phrase else None)

    def fresh_checkpoint(self) -> str | None:
        """The newest stored checkpoint note, after signing one for the current head if a
        checkpoint key is configured, the tree grew, and the last was signed over
        ``checkpoint_interval`` seconds ago (signing needs no recomputation: append keeps
        the head; ``assure checkpoint`` and ``assure verify`` recompute)."""
        from ledger.checkpoints import latest_checkpoint, receipts

        key = self.checkpoint_key
        if key is not None and time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval:
            with self._lock:
                if time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval:
                    note = latest_checkpoint(self.engine)
                    if note is None or _size(note) < self.ledger.head().size:
                        receipts(self.engine, [], checkpoint_key=key)
                    self._last_checkpoint = time.monotonic()
        return latest_checkpoint(self.engine)


def _size(note: str) -> int:
    lines = note.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1
