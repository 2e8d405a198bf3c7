"""An iCalendar (RFC 5545) feed: exception expiries and the days EU AI Act obligations
start to apply to each system, as all-day events a calendar client subscribes to.

The events come from the calls behind ``assure exceptions`` and ``assure coverage --horizon``
(exception states, and the requirements coverage lists as upcoming); this module only writes
the text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controls import service
from ledger.store import Ledger
from server.state import State

HORIZON_DAYS = 3653
"""How far ahead the feed lists EU AI Act application dates (ten years)."""
EU_AI_ACT = "eu-ai-act"


def calendar_events(st: State, now: dt.datetime) -> list[dict[str, Any]]:
    """Every active or pending exception's expiry, and per system each future day on which
    EU AI Act requirements start to apply (with how many and which)."""
    from controls.coverage import upcoming_requirements

    events = []
    origin = Ledger(st.engine).head().origin
    # One load of every system's exceptions and classification (no evaluation or document is read).
    views = service.all_views(st.engine, as_of=now, policy=st.policy, plan=service.no_bulk_plan())
    for x in service.exceptions_of(views, policy=st.policy):
        if x.state in ("expired", "rejected"):
            continue
        j = x.to_json()
        events.append({
            "uid": f"exception-{j['entry_hash']}@{origin}", "day": x.expires_at.date(),
            "summary": f"Exception expires: {j['system']} ({', '.join(j['controls'])})",
            "description": f"Owner {j['owner']}; entry {j['seq']}; state {j['state']}; "
                           f"compensating controls {', '.join(j.get('compensating_controls') or []) or 'none'}; "
                           f"remediation: {j.get('remediation') or '-'}"})
    if EU_AI_ACT not in service.default_frameworks(st.graph):
        return events
    for view in views:
        days: dict[str, list[str]] = {}
        for req, verdict in upcoming_requirements(st.graph, EU_AI_ACT, view, at=now, horizon_days=HORIZON_DAYS):
            if verdict.applies_from:
                days.setdefault(verdict.applies_from.isoformat(), []).append(req.id)
        for day, ids in sorted(days.items()):
            events.append({
                "uid": f"eu-ai-act-{view.system}-{day}@{origin}", "day": dt.date.fromisoformat(day),
                "summary": f"EU AI Act: {len(ids)} requirement(s) apply to {view.system}",
                "description": "From this day: " + ", ".join(ids)})
    return sorted(events, key=lambda e: (e["day"], e["uid"]))


def to_ics(events: list[dict[str, Any]], *, now: dt.datetime) -> str:
    """The events as a VCALENDAR (CRLF line ends, lines folded at 75 octets)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Assure//web view//EN", "CALSCALE:GREGORIAN",
             "X-WR-CALNAME:Assure: exceptions and EU AI Act dates"]
    for e in events:
        day: dt.date = e["day"]
        lines += ["BEGIN:VEVENT", f"UID:{_text(e['uid'])}", f"DTSTAMP:{stamp}",
                  f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
                  f"SUMMARY:{_text(e['summary'])}", f"DESCRIPTION:{_text(e['description'])}",
                  "TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _text(value: str) -> str:
    """RFC 5545 TEXT escaping (backslash, semicolon, comma, newline)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", ""))


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character."""
    out, cur, size = [], "", 0
    for ch in line:
        n = len(ch.encode())
        if size + n > 75:
            out.append(cur)
            cur, size = " ", 1
        cur += ch
        size += n
    out.append(cur)
    return "\r\n".join(out)
