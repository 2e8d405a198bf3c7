"""A revoked key is refused by every server process right after its revocation, whatever
each process judged before, even while clients keep posting with it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from ledger.timeutil import format_timestamp, utcnow
from tests.conftest import eval_record, table_bytes
from tests.server.conftest import envelope


def test_a_revoked_key_is_refused_by_every_server_right_after_revocation(ledger, keys, tokens, serve, engine, db_url):
    servers = [serve(), serve()] if db_url.startswith("postgresql") else [serve()]  # SQLite: one process
    clients = [s.client(tokens["pipeline"]) for s in servers]
    for i, c in enumerate(clients):  # every process has judged the key trusted (and keeps that registry)
        assert c.post("/v1/entries", json=envelope(eval_record(suite=f"before-{i}"), keys.pipeline)).status_code == 201
    stop, acked = threading.Event(), []

    def holder_of_the_key(i: int) -> None:  # keeps posting while the key is revoked
        with servers[i % len(servers)].client(tokens["pipeline"]) as c:
            n = 0
            while not stop.is_set():
                r = c.post("/v1/entries", json=envelope(eval_record(suite=f"race-{i}-{n}"), keys.pipeline))
                assert r.status_code in (201, 400), r.text
                if r.status_code == 201:
                    acked.append(r.json()["entries"][0]["seq"])
                n += 1

    revoke = envelope({"kind": "key.revoke", "observed_at": format_timestamp(utcnow()),
                       "key_id": keys.pipeline.public.key_id, "reason": "leaked"}, keys.admin)
    with ThreadPoolExecutor(4) as pool:
        racing = [pool.submit(holder_of_the_key, i) for i in range(4)]
        deadline = time.monotonic() + 60
        while len(acked) < 4 and time.monotonic() < deadline:  # the race is on: appends are being acknowledged
            time.sleep(0.05)
        r = clients[0].post("/v1/entries", json=revoke)
        assert r.status_code == 201, r.text
        revoked_at = r.json()["entries"][0]["seq"]
        for i, c in enumerate(clients):  # right after: refused by each process
            r = c.post("/v1/entries", json=envelope(eval_record(suite=f"after-{i}"), keys.pipeline))
            assert r.status_code == 400, r.text
            assert r.json()["reason"] == f"key {keys.pipeline.public.key_id[:16]}… (ci) was revoked at entry {revoked_at}: leaked"
        time.sleep(0.5)
        stop.set()
        for f in racing:
            f.result()
    assert acked and max(acked) < revoked_at  # nothing acknowledged after the revocation
    with engine.connect() as conn:
        late = conn.execute(sa.text("SELECT count(*) FROM entry_signer WHERE key_id = :k AND seq > :s"),
                            {"k": keys.pipeline.public.key_id, "s": revoked_at}).scalar()
    assert late == 0
    before = table_bytes(engine)
    for c in clients:
        assert c.post("/v1/entries", json=envelope(eval_record(suite="late"), keys.pipeline)).status_code == 400
        c.close()
    assert table_bytes(engine) == before
