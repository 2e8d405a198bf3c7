"""A server keeps every system's coverage view between requests (controls.view_cache): what it
serves must be exactly what a fresh load finds, whatever was appended since (or rewritten
behind its back), and only the systems something was appended for are loaded again."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controls import service
from controls.view_cache import ViewCache
from ledger.db import make_engine
from ledger.store import trust_key
from tests.conftest import (
    cut_tail,
    drop_append_only_triggers,
    fixed_key,
    seed_ledger,
    system_record,
)
from tests.controls.test_coverage import (
    T0,
    D,
    H,
    approve,
    evaluation,
    exception_record,
    iso,
    model_version,
    put,
)


def fingerprint(views: list) -> list:
    """What a view holds, comparably: its records in force, every record read, what is withdrawn."""
    return [(v.system, v.as_of, v.record.entry_hash, [e.entry_hash for e in v.evidence], sorted(v.by_hash),
             sorted(v.retracted), sorted(v.superseded), [(c.record.entry_hash, c.state) for c in v.corrections],
             v.versions) for v in views]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The systems each view load asked for, in order."""
    calls: list[list[str]] = []
    real = service._load_views

    def counting(conn, ids, **kw):
        calls.append(list(ids))
        return real(conn, ids, **kw)

    monkeypatch.setattr(service, "_load_views", counting)
    return calls


def served(led, graph, policy, cache: ViewCache, when: dt.datetime, loads: list[list[str]]) -> list[str]:
    """Views through the cache at ``when``, checked against a fresh load; the systems loaded for it."""
    before = len(loads)
    kept = service.coverage_views(led.engine, graph=graph, policy=policy, as_of=when, cache=cache)
    loaded = [s for ids in loads[before:] for s in ids]
    fresh = service.coverage_views(led.engine, graph=graph, policy=policy, as_of=when)
    assert fingerprint(kept) == fingerprint(fresh)
    return loaded


def test_kept_views_follow_every_kind_of_append(ledger, keys, graph, policy, loads) -> None:
    cache = ViewCache()
    put(ledger, keys.admin, T0 + H, system_record("chatbot", risk_tier="low", eu_class="minimal", eu_role="deployer"))
    put(ledger, keys.pipeline, T0 + 2 * H, evaluation("fairness", "2.1.0", T0 + 2 * H))
    assert served(ledger, graph, policy, cache, T0 + D, loads) == ["chatbot", "credit-scoring"]
    # Nothing appended: nothing loaded, a later moment all the same.
    assert served(ledger, graph, policy, cache, T0 + 2 * D, loads) == []

    # A failing run for one system: only that system is loaded again, and it shows.
    put(ledger, keys.pipeline, T0 + 2 * D, evaluation("fairness", "2.1.0", T0 + 2 * D, passed=False))
    assert served(ledger, graph, policy, cache, T0 + 3 * D, loads) == ["credit-scoring"]

    # An exception, then its approvals: the approved exception excepts the control once both are in.
    exc = put(ledger, keys.admin, T0 + 3 * D, exception_record(T0 + 3 * D, T0 + 40 * D))[0]
    put(ledger, keys.approver, T0 + 3 * D + H, approve(exc.entry_hash, T0 + 3 * D + H))
    assert served(ledger, graph, policy, cache, T0 + 3 * D + 2 * H, loads) == ["credit-scoring"]
    put(ledger, keys.approver2, T0 + 3 * D + 3 * H, approve(exc.entry_hash, T0 + 3 * D + 3 * H))
    assert served(ledger, graph, policy, cache, T0 + 4 * D, loads) == ["credit-scoring"]

    # A newly registered system is loaded, the others kept.
    put(ledger, keys.admin, T0 + 4 * D, system_record("triage", risk_tier="medium", eu_class="limited"))
    assert served(ledger, graph, policy, cache, T0 + 5 * D, loads) == ["triage"]

    # An organisation-wide record is in every view: every system is loaded again.
    put(ledger, keys.admin, T0 + 5 * D, {"kind": "document", "system": "*", "observed_at": iso(T0 + 5 * D),
                                         "doc_type": "policy", "title": "AI policy", "controls": ["GOV-01"]})
    assert served(ledger, graph, policy, cache, T0 + 6 * D, loads) == ["chatbot", "credit-scoring", "triage"]

    # A key event changes how signers are judged: every system again.
    trust_key(ledger, keys.admin, fixed_key("pipeline2").public, role="pipeline", owner="ci-2", now=T0 + 6 * D)
    assert served(ledger, graph, policy, cache, T0 + 7 * D, loads) == ["chatbot", "credit-scoring", "triage"]


def test_an_earlier_moment_has_views_of_its_own(ledger, keys, graph, policy, loads) -> None:
    """A page's as-of date: the present views are not it; its own are kept, since entries
    appended later are received later, until a key event is appended."""
    cache = ViewCache()
    put(ledger, keys.pipeline, T0 + D, model_version("3.0", T0 + D))
    assert served(ledger, graph, policy, cache, T0 + 2 * D, loads) == ["credit-scoring"]
    # Before model 3.0 was received, the view holds 2.1.0 as current.
    assert served(ledger, graph, policy, cache, T0 + H, loads) == ["credit-scoring"]
    past = service.coverage_views(ledger.engine, graph=graph, policy=policy, as_of=T0 + H, cache=cache)
    assert [v.current_model_version for v in past] == ["2.1.0"]
    assert served(ledger, graph, policy, cache, T0 + 3 * D, loads) == []
    # Later records, of any system or of all, do not change what was received by then.
    put(ledger, keys.pipeline, T0 + 3 * D, evaluation("fairness", "3.0", T0 + 3 * D, passed=False))
    put(ledger, keys.admin, T0 + 3 * D, {"kind": "document", "system": "*", "observed_at": iso(T0 + 3 * D),
                                         "doc_type": "policy", "title": "AI policy", "controls": ["GOV-01"]})
    assert served(ledger, graph, policy, cache, T0 + H, loads) == []
    # A key event: the signers' registry is replayed from every key event, so load again.
    trust_key(ledger, keys.admin, fixed_key("pipeline2").public, role="pipeline", owner="ci-2", now=T0 + 4 * D)
    assert served(ledger, graph, policy, cache, T0 + H, loads) == ["credit-scoring"]


def test_kpis_through_the_cache_are_the_fresh_kpis(ledger, keys, graph, policy) -> None:
    cache = ViewCache()
    put(ledger, keys.pipeline, T0 + H, evaluation("fairness", "2.1.0", T0 + H))
    for when in (T0 + D, T0 + 2 * D):
        def kpis(**kw) -> dict:
            return service.kpis(ledger.engine, graph=graph, policy=policy, frameworks=None,
                                as_of=when, expiring_window=dt.timedelta(days=30), **kw)  # noqa: B023

        assert kpis(cache=cache) == kpis()
    put(ledger, keys.pipeline, T0 + 2 * D, evaluation("robustness", "2.1.0", T0 + 2 * D, passed=False))
    after = service.kpis(ledger.engine, graph=graph, policy=policy, frameworks=None, as_of=T0 + 3 * D,
                         expiring_window=dt.timedelta(days=30), cache=cache)
    assert after == service.kpis(ledger.engine, graph=graph, policy=policy, frameworks=None, as_of=T0 + 3 * D,
                                 expiring_window=dt.timedelta(days=30))


def test_a_ledger_rewritten_behind_the_cache_is_loaded_afresh(ledger, keys, graph, policy, loads) -> None:
    """Someone with the database cuts the tail and appends other entries in its place: the kept
    views were of entries no longer there, so none of them is served."""
    cache = ViewCache()
    put(ledger, keys.admin, T0 + H, system_record("chatbot", risk_tier="low", eu_class="minimal", eu_role="deployer"))
    size = ledger.head().size
    put(ledger, keys.pipeline, T0 + 2 * H, evaluation("fairness", "2.1.0", T0 + 2 * H))
    put(ledger, keys.pipeline, T0 + 3 * H, evaluation("safety", "2.1.0", T0 + 3 * H))
    between = T0 + 2 * H + H / 2  # an as-of date that sees the fairness run
    assert served(ledger, graph, policy, cache, T0 + D, loads) == ["chatbot", "credit-scoring"]
    assert served(ledger, graph, policy, cache, between, loads) == ["chatbot", "credit-scoring"]
    with ledger.engine.begin() as c:
        drop_append_only_triggers(c)
        cut_tail(c, size)
    put(ledger, keys.pipeline, T0 + 4 * H, evaluation("fairness", "2.1.0", T0 + 4 * H, passed=False),
        evaluation("robustness", "2.1.0", T0 + 4 * H), evaluation("security", "2.1.0", T0 + 4 * H))
    assert served(ledger, graph, policy, cache, T0 + 2 * D, loads) == ["chatbot", "credit-scoring"]
    # The fairness run received by then is gone: the kept views of that moment are not served either.
    assert served(ledger, graph, policy, cache, between, loads) == ["chatbot", "credit-scoring"]
    with ledger.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM entry")).scalar() == size + 3


# ------------------------------------------------------------------ any sequence of appends

SYSTEMS = ("credit-scoring", "chatbot", "triage")
Step = tuple[str, int, bool]
steps = st.lists(st.tuples(st.sampled_from(["evaluation", "register", "org_wide", "exception", "retract", "key",
                                            "past"]),
                           st.integers(0, len(SYSTEMS) - 1), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_any_sequence_of_appends_is_served_as_a_fresh_load(plan: list[Step], keys, graph, policy,
                                                          _sqlite_template, tmp_path_factory) -> None:
    """Whatever is appended, in whatever order (own records, new systems, organisation-wide
    records, exceptions and their approvals, retractions, key events), every view served
    through the cache is what a fresh load finds, now and at an earlier moment."""
    path = tmp_path_factory.mktemp("views") / "ledger.db"
    shutil.copy(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    led = seed_ledger(engine, keys)
    cache, registered, last = ViewCache(), {"credit-scoring"}, {}
    try:
        for i, (action, which, flag) in enumerate(plan, start=1):
            now = T0 + i * H
            system = SYSTEMS[which] if SYSTEMS[which] in registered else "credit-scoring"
            if action == "evaluation":
                last[system] = put(led, keys.pipeline, now, evaluation("fairness", "2.1.0", now, passed=flag,
                                                                       system=system))[0]
            elif action == "register" and SYSTEMS[which] not in registered:
                registered.add(SYSTEMS[which])
                put(led, keys.admin, now, system_record(SYSTEMS[which], risk_tier="low", eu_class="minimal"))
                put(led, keys.pipeline, now + H / 4, model_version("2.1.0", now, system=SYSTEMS[which]))
            elif action == "org_wide":
                put(led, keys.admin, now, {"kind": "document", "system": "*", "observed_at": iso(now),
                                           "doc_type": "policy", "title": f"AI policy {i}", "controls": ["GOV-01"]})
            elif action == "exception" and system == "credit-scoring":
                exc = put(led, keys.admin, now, exception_record(now, now + 40 * D))[0]
                if flag:
                    put(led, keys.approver, now + H / 2, approve(exc.entry_hash, now + H / 2))
            elif action == "retract" and system in last:
                put(led, keys.pipeline, now, {"kind": "retract", "system": system, "observed_at": iso(now),
                                              "target": last.pop(system).entry_hash, "reason": "wrong data"})
            elif action == "key":
                trust_key(led, keys.admin, fixed_key(f"ci-{i}").public, role="pipeline", owner=f"ci-{i}", now=now)
            when = now + H if action != "past" else T0 + (H if flag else 2 * H)  # repeated: kept views
            kept = service.coverage_views(engine, graph=graph, policy=policy, as_of=when, cache=cache)
            assert fingerprint(kept) == fingerprint(service.coverage_views(engine, graph=graph, policy=policy,
                                                                           as_of=when)), (i, action)
    finally:
        engine.dispose()
