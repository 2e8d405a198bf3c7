"""What ``assure serve`` is configured with: one value object, read from the environment
by worker processes (uvicorn starts them by import string)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV = "ASSURE_SERVE_SETTINGS"

MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest request body (64 MiB is the CLI's file cap; an HTTP batch is smaller)."""
MAX_BATCH = 10_000
"""The most envelopes one request may hold."""
MAX_DEPTH = 8
"""How deeply a request body's JSON may nest (an envelope list needs 4)."""


@dataclass(frozen=True)
class Settings:
    """Server settings.

    Attributes:
        db_url: the ledger database.
        public_tiles: serve ``/checkpoint`` and ``/tile/…`` without a token.
        max_body_bytes: request bodies larger than this are refused (413).
        max_batch: requests with more envelopes are refused (413).
        max_depth: request bodies nested deeper are refused (400).
        frameworks_dir: user frameworks and controls (as ``--frameworks-dir``).
        policy_path: the approval policy (as ``--approval-policy``); None: built in.
        checkpoint_key: an admin key (PEM path) to sign checkpoints with; None: serve stored ones.
        checkpoint_interval: seconds between checkpoints signed on demand.
        passphrase_env: the variable holding the checkpoint key's passphrase.
        max_skew: seconds ``observed_at`` may be ahead of the receive time.
    """

    db_url: str
    public_tiles: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch: int = MAX_BATCH
    max_depth: int = MAX_DEPTH
    frameworks_dir: str = field(default_factory=lambda: str(Path(".assure") / "frameworks"))
    policy_path: str | None = None
    checkpoint_key: str | None = None
    checkpoint_interval: float = 10.0
    passphrase_env: str | None = None
    max_skew: int = 300

    def to_env(self) -> str:
        """Serialised for :data:`ENV`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        """The settings ``assure serve`` put in :data:`ENV`."""
        return cls(**json.loads(os.environ[ENV]))
