"""A pipeline that posts batches until it is killed: ``python kill_client.py URL TOKEN ACKS``.

After each acknowledged batch it appends the receipts' entry hashes (and the batch
number) to ACKS and fsyncs, so what was acknowledged is on disk before the next
request starts. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import json
import os
import sys

import httpx

from tests.conftest import eval_record, fixed_key
from tests.server.conftest import envelope

BATCH = 20


def main(url: str, token: str, acks: str) -> None:
    key = fixed_key("pipeline")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c, \
            open(acks, "a") as out:
        for b in range(10_000):
            body = [envelope(eval_record(suite=f"k{b}-{i}"), key) for i in range(BATCH)]
            r = c.post("/v1/entries", json=body)
            r.raise_for_status()
            out.write(json.dumps({"batch": b, "hashes": [e["entry_hash"] for e in r.json()["entries"]]}) + "\n")
            out.flush()
            os.fsync(out.fileno())


if __name__ == "__main__":
    main(*sys.argv[1:])
