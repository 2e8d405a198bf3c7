"""Projection rows: the ``record`` and ``record_control`` rows derived from an entry,
and the driver-level insert that writes them (and an append's other rows).

Projections are derived data for queries; nothing here decides what is valid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ledger.registry import KeyState

if TYPE_CHECKING:  # the rows are built without SQLAlchemy (coverage's reads on SQLite import none)
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection
    from sqlalchemy.types import TypeEngine


def insert_raw(conn: Connection, table: Table, rows: list[dict[str, Any]], *, skip_existing: bool = False) -> None:
    """executemany straight through the driver, converting only what the dialect needs.

    These tables hold bytes, ints, text, booleans and datetimes; only datetimes
    need converting, and only on SQLite (to SQLAlchemy's stored text form, so
    queries through SQLAlchemy read them back). SQLAlchemy's general per-row
    parameter processing was most of the cost of an append's inserts.
    """
    if not rows:
        return
    columns = list(rows[0])
    insert_tuples(conn, table, columns, driver_values(conn, table, columns, rows), skip_existing=skip_existing)


def insert_tuples(
    conn: Connection, table: Table, columns: Sequence[str], values: list[tuple[Any, ...]], *, skip_existing: bool = False
) -> None:
    """executemany of rows given as tuples of ``columns``, already as the driver takes them (no datetimes)."""
    if not values:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if skip_existing:  # both backends; needs only the INSERT privilege
        sql += " ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, values)


def driver_values(
    conn: Connection, table: Table, columns: list[str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """``rows`` as tuples of ``columns``, each value as the driver writes it (and reads it back).

    Only datetimes are converted, and only where the dialect needs it (SQLite
    stores SQLAlchemy's text form); ``assure verify`` compares derived rows with
    stored ones read through the driver in this form.
    """
    dialect = conn.dialect
    converters = [
        (i, proc)
        for i, c in enumerate(columns)
        if _is_datetime(table.c[c].type)
        and (proc := table.c[c].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    values = list(map(itemgetter(*columns), rows)) if len(columns) > 1 else [(r[columns[0]],) for r in rows]
    if converters:
        memo: dict[Any, Any] = {}  # a batch shares its receive time and often its observed times
        values = [_convert(v, converters, memo) for v in values]
    return values


def _is_datetime(type_: TypeEngine[Any]) -> bool:
    # DateTime itself, or a decorator over it (SQLModel's UTCDateTime)
    from sqlalchemy import DateTime

    return isinstance(type_, DateTime) or isinstance(getattr(type_, "impl_instance", None), DateTime)


def _convert(
    row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]], memo: dict[Any, Any]
) -> tuple[Any, ...]:
    out = list(row)
    for i, proc in converters:
        value = out[i]
        if value is not None:
            converted = memo.get(value)
            if converted is None:
                converted = memo[value] = proc(value)
            out[i] = converted
    return tuple(out)



@lru_cache(maxsize=1024)  # a batch's records often share their times
def _ts(value: str | None) -> dt.datetime | None:
    # Record timestamps are validated and normalised to RFC 3339 UTC "Z" already.
    return dt.datetime.fromisoformat(value) if value else None


#: Which record field the ``record.subtype`` projection column holds, per kind.
SUBTYPE_FIELD: dict[str, str] = {
    "evaluation": "suite",
    "document": "doc_type",
    "approval": "decision",
    "incident": "severity",
    "risk_assessment": "residual_risk",
    "system": "risk_tier",
    "key.trust": "role",
}


def projection_row(
    fields: Mapping[str, Any], *, seq: int, entry_hash: bytes | str, received_at: dt.datetime, signer: KeyState
) -> dict[str, Any]:
    """The ``record`` projection row for one entry.

    Args:
        fields: the record's fields: a record model's ``__dict__`` or the JSON
            mapping of its signed payload (where defaults are left out).
        seq: the entry's sequence number.
        entry_hash: its chain hash (or its hex).
        received_at: when the ledger received it.
        signer: its first signing key.
    """
    kind = fields["kind"]
    subtype = SUBTYPE_FIELD.get(kind)
    return {
        "seq": seq,
        "entry_hash": entry_hash if isinstance(entry_hash, str) else entry_hash.hex(),
        "kind": kind,
        "system": fields.get("system"),
        "observed_at": _ts(fields["observed_at"]),
        "received_at": received_at,
        "valid_until": _ts(fields.get("valid_until")),
        "model_version": fields.get("version" if kind == "model_version" else "model_version"),
        "subtype": fields.get(subtype) if subtype else None,
        "passed": fields.get("passed"),
        "target": fields.get("target"),
        "supersedes": fields.get("supersedes"),
        "expires_at": _ts(fields.get("expires_at")),
        "signer_key_id": signer.key_id,
        "signer_role": signer.role,
    }


def control_rows(fields: Mapping[str, Any], *, seq: int) -> list[dict[str, Any]]:
    """The ``record_control`` projection rows for one entry (``fields`` as for :func:`projection_row`)."""
    relation = "excepted" if fields["kind"] == "exception" else "evidence"
    controls = fields.get("controls") or ()
    compensating = fields.get("compensating_controls")
    if not compensating and len(controls) <= 1:
        return [{"seq": seq, "control_id": c, "relation": relation} for c in controls]
    rows = {(c, relation) for c in controls}
    rows |= {(c, "compensating") for c in compensating or ()}
    return [{"seq": seq, "control_id": c, "relation": r} for c, r in sorted(rows)]


def signer_rows(seq: int, key_ids: list[str]) -> list[dict[str, Any]]:
    """The ``entry_signer`` rows of one entry: every signing key, in signature order."""
    return [{"seq": seq, "idx": i, "key_id": k} for i, k in enumerate(key_ids)]


def key_rows(state: KeyState, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``key_registry`` rows a key.trust adds and the ``key_revocation`` rows a key.revoke adds."""
    if kind == "key.trust":
        return [key_registry_row(state)], []
    return [], [revocation_row(state)]


def key_registry_row(state: KeyState) -> dict[str, Any]:
    """A key's ``key_registry`` row (as trusted; revocation is a separate row)."""
    return {
        "key_id": state.key_id, "public_key": state.public_key, "role": state.role, "owner": state.owner,
        "trusted_seq": state.trusted_seq, "trusted_at": state.trusted_at, "valid_from": state.valid_from,
        "valid_until": state.valid_until,
        "systems": json.dumps(list(state.systems)) if state.systems is not None else None,
    }


def revocation_row(state: KeyState) -> dict[str, Any]:
    """A revoked key's ``key_revocation`` row."""
    return {"key_id": state.key_id, "revoked_seq": state.revoked_seq, "revoked_at": state.revoked_at,
            "revoke_reason": state.revoke_reason}
