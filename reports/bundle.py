"""``bundle.json``: everything an auditor needs to re-check a package offline.

A bundle holds, for one system as of one moment:

* ``checkpoint``: one signed C2SP checkpoint note (origin, tree size, root);
* ``entries``: the ledger entries in scope (the system's and organisation-wide
  records received by ``as_of``, retractions included, plus every key event), each
  with its exact leaf bytes, its DSSE envelope, its entry and previous hashes and
  an RFC 9162 inclusion proof against that checkpoint;
* ``consistency``: every earlier checkpoint the ledger signed, with a consistency
  proof to the package checkpoint, so an auditor holding one of them can check
  that the ledger only grew;
* ``definitions`` and ``approval_policy``: the exact framework, crosswalk,
  control and policy files the coverage was computed with, with SHA-256;
* ``coverage``: the computed coverage (the JSON ``assure coverage --json`` prints);
* ``completeness`` (format 2): the seq of a ``scope_index`` entry the bundle
  carries, and for each package scope (the system, ``*``, ``keys``) its index
  leaf with an inclusion proof in that index's tree, so an auditor can check
  the bundle holds every entry of those scopes below the index (see
  :mod:`ledger.scope_index` and :mod:`reports.completeness`).

The file is JSON with sorted keys and fixed indentation, so the same content is
always the same bytes. Binary values are lowercase hex (hashes) or standard
base64 (leaf bytes, payloads, signatures).

This module only defines the format: it reads no database (see
:mod:`reports.collect`) and checks no signature or proof (see :mod:`reports.verify`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ledger.canonical import CanonicalError, parse_json
from ledger.dsse import Envelope
from ledger.errors import InputError
from ledger.scope_index import ScopeLeaf
from ledger.timeutil import format_timestamp, parse_timestamp
from reports.errors import BundleFormatError

BUNDLE_FORMAT = "assure-audit-bundle/2"
OLD_FORMATS = ("assure-audit-bundle/1",)  # read, but claim no completeness
BUNDLE_NAME = "bundle.json"

T = TypeVar("T")


@dataclass(frozen=True)
class BundleEntry:
    """One ledger entry as carried in a bundle.

    Attributes:
        seq: its sequence number (its leaf index in the Merkle tree).
        entry_hash: the chain hash ``H(domain || prev_hash || leaf)``.
        prev_hash: the previous entry's chain hash.
        leaf: the exact canonical leaf bytes (the Merkle tree hashes these).
        envelope: the DSSE envelope: payload bytes and signatures.
        inclusion_proof: the RFC 9162 audit path to the bundle's checkpoint.
    """

    seq: int
    entry_hash: bytes
    prev_hash: bytes
    leaf: bytes
    envelope: Envelope
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "seq": self.seq,
            "entry_hash": self.entry_hash.hex(),
            "prev_hash": self.prev_hash.hex(),
            "leaf": _b64(self.leaf),
            "envelope": self.envelope.to_json(),
            "inclusion_proof": [h.hex() for h in self.inclusion_proof],
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> BundleEntry:
        """Parse the JSON form.

        Raises:
            BundleFormatError: naming the bad field.
        """
        obj = _object(data, where, {"seq", "entry_hash", "prev_hash", "leaf", "envelope", "inclusion_proof"})
        try:
            envelope = Envelope.from_json(obj["envelope"], source=f"{where}.envelope")
        except InputError as e:
            raise BundleFormatError(e.reason, where=f"{where}.envelope" + (f".{e.field}" if e.field else "")) from e
        return cls(
            seq=_int(obj["seq"], f"{where}.seq"),
            entry_hash=_hash(obj["entry_hash"], f"{where}.entry_hash"),
            prev_hash=_hash(obj["prev_hash"], f"{where}.prev_hash"),
            leaf=_unb64(obj["leaf"], f"{where}.leaf"),
            envelope=envelope,
            inclusion_proof=tuple(_list(obj["inclusion_proof"], f"{where}.inclusion_proof", _hash)),
        )


@dataclass(frozen=True)
class EarlierCheckpoint:
    """A checkpoint the ledger signed before the package's, and the proof it was extended.

    Attributes:
        size: its tree size.
        note: its signed note, as stored by the ledger.
        proof: the RFC 9162 consistency proof from ``size`` to the package checkpoint.
    """

    size: int
    note: str
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"size": self.size, "note": self.note, "proof": [h.hex() for h in self.proof]}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> EarlierCheckpoint:
        """Parse the JSON form.

        Raises:
            BundleFormatError: naming the bad field.
        """
        obj = _object(data, where, {"size", "note", "proof"})
        return cls(
            size=_int(obj["size"], f"{where}.size"),
            note=_str(obj["note"], f"{where}.note"),
            proof=tuple(_list(obj["proof"], f"{where}.proof", _hash)),
        )


@dataclass(frozen=True)
class ScopeProof:
    """One scope's leaf of the scope index and its inclusion proof in the index tree.

    Attributes:
        leaf: the scope's leaf (count, last seq and last entry hash below the index size).
        index: the leaf's position in the index tree (scopes in sorted order).
        proof: the RFC 9162 audit path to the index root.
    """

    leaf: ScopeLeaf
    index: int
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.leaf.to_json(), "index": self.index, "proof": [h.hex() for h in self.proof]}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> ScopeProof:
        """Parse the JSON form.

        Raises:
            BundleFormatError: naming the bad field.
        """
        obj = _object(data, where, {"scope", "count", "last_seq", "last_entry_hash", "index", "proof"})
        leaf = ScopeLeaf(_str(obj["scope"], f"{where}.scope"), _int(obj["count"], f"{where}.count"),
                         _int(obj["last_seq"], f"{where}.last_seq", minimum=-1),
                         _str(obj["last_entry_hash"], f"{where}.last_entry_hash"))
        return cls(leaf, _int(obj["index"], f"{where}.index"), tuple(_list(obj["proof"], f"{where}.proof", _hash)))


@dataclass(frozen=True)
class Completeness:
    """The proof that the bundle holds every entry of its scopes below a committed index.

    Attributes:
        index_seq: the seq of the ``scope_index`` entry (carried among the entries).
        scopes: the package scopes' leaves with their proofs.
    """

    index_seq: int
    scopes: tuple[ScopeProof, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"index_seq": self.index_seq, "scopes": [p.to_json() for p in self.scopes]}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Completeness:
        """Parse the JSON form.

        Raises:
            BundleFormatError: naming the bad field.
        """
        obj = _object(data, where, {"index_seq", "scopes"})
        return cls(_int(obj["index_seq"], f"{where}.index_seq"),
                   tuple(_list(obj["scopes"], f"{where}.scopes", lambda v, w: ScopeProof.from_json(v, where=w))))


@dataclass(frozen=True)
class DefinitionFile:
    """A definition file (framework, crosswalk, controls, approval policy) and its hash.

    Attributes:
        name: its name in the library (``nist-ai-rmf.yaml``, ``crosswalks/…``) or path.
        origin: ``builtin``, ``user`` or ``extra`` (see :mod:`frameworks.loader`).
        sha256: hex SHA-256 of ``data`` as stated in the bundle (checked on verify).
        data: the exact bytes the coverage was computed from.
    """

    name: str
    origin: str
    sha256: str
    data: bytes

    @classmethod
    def of(cls, name: str, data: bytes, *, origin: str = "builtin") -> DefinitionFile:
        """A definition file with its hash computed."""
        return cls(name, origin, hashlib.sha256(data).hexdigest(), data)

    def to_json(self) -> dict[str, Any]:
        """JSON form: the content as text when it is UTF-8 (YAML is), else base64."""
        out: dict[str, Any] = {"name": self.name, "origin": self.origin, "sha256": self.sha256}
        try:
            out["content"] = self.data.decode("utf-8")
        except UnicodeDecodeError:
            out["content_base64"] = _b64(self.data)
        return out

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> DefinitionFile:
        """Parse the JSON form.

        Raises:
            BundleFormatError: naming the bad field.
        """
        if isinstance(data, dict) and "content_base64" in data:
            obj = _object(data, where, {"name", "origin", "sha256", "content_base64"})
            content = _unb64(obj["content_base64"], f"{where}.content_base64")
        else:
            obj = _object(data, where, {"name", "origin", "sha256", "content"})
            content = _str(obj["content"], f"{where}.content").encode("utf-8")
        sha = _str(obj["sha256"], f"{where}.sha256")
        return cls(_str(obj["name"], f"{where}.name"), _str(obj["origin"], f"{where}.origin"), sha, content)


@dataclass(frozen=True)
class Bundle:
    """The content of ``bundle.json``.

    Attributes:
        origin: the ledger's identity (its checkpoint origin).
        system: the AI system the package is about.
        as_of: the moment the package describes (records received by then).
        frameworks: the framework ids assessed.
        seqs: the sequence numbers of every entry the bundle carries, in order.
        checkpoint_note: the signed checkpoint every inclusion proof leads to.
        earlier: earlier checkpoints with consistency proofs to this one.
        entries: the entries, in sequence order.
        definitions: the framework, crosswalk and control files used.
        policy: the approval policy file used.
        coverage: the computed coverage (``CoverageReport.to_json()``).
        generator: what produced the bundle (name and version).
        completeness: the scope index proof (None in a format 1 bundle: no claim).
    """

    origin: str
    system: str
    as_of: dt.datetime
    frameworks: tuple[str, ...]
    seqs: tuple[int, ...]
    checkpoint_note: str
    earlier: tuple[EarlierCheckpoint, ...]
    entries: tuple[BundleEntry, ...]
    definitions: tuple[DefinitionFile, ...]
    policy: DefinitionFile
    coverage: dict[str, Any]
    generator: dict[str, str]
    completeness: Completeness | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "completeness": self.completeness.to_json() if self.completeness else None,
            "format": BUNDLE_FORMAT,
            "generator": self.generator,
            "origin": self.origin,
            "scope": {
                "system": self.system,
                "as_of": format_timestamp(self.as_of),
                "frameworks": list(self.frameworks),
                "seqs": list(self.seqs),
            },
            "checkpoint": {"note": self.checkpoint_note},
            "consistency": [c.to_json() for c in self.earlier],
            "entries": [e.to_json() for e in self.entries],
            "definitions": [d.to_json() for d in self.definitions],
            "approval_policy": self.policy.to_json(),
            "coverage": self.coverage,
        }

    def to_bytes(self) -> bytes:
        """The file's bytes: sorted keys, one-space indent, UTF-8, final newline."""
        return dump_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> Bundle:
        """Parse ``bundle.json`` strictly (no duplicate keys, no unknown fields).

        Raises:
            BundleFormatError: naming what is malformed.
        """
        try:
            obj = parse_json(data)
        except CanonicalError as e:
            raise BundleFormatError(f"not valid JSON: {e}") from e
        fields = {"format", "generator", "origin", "scope", "checkpoint", "consistency", "entries",
                  "definitions", "approval_policy", "coverage"}
        old = isinstance(obj, dict) and obj.get("format") in OLD_FORMATS
        top = _object(obj, "bundle.json", fields if old else fields | {"completeness"})
        if top["format"] != BUNDLE_FORMAT and not old:
            raise BundleFormatError(f"unknown format {top['format']!r} (expected {BUNDLE_FORMAT})", where="format")
        completeness = None if old or top["completeness"] is None else Completeness.from_json(
            top["completeness"], where="completeness")
        scope = _object(top["scope"], "scope", {"system", "as_of", "frameworks", "seqs"})
        try:
            as_of = parse_timestamp(_str(scope["as_of"], "scope.as_of"))
        except ValueError as e:
            raise BundleFormatError(str(e), where="scope.as_of") from e
        checkpoint = _object(top["checkpoint"], "checkpoint", {"note"})
        coverage = top["coverage"]
        if not isinstance(coverage, dict):
            raise BundleFormatError("must be an object", where="coverage")
        generator = top["generator"]
        if not isinstance(generator, dict) or not all(isinstance(v, str) for v in generator.values()):
            raise BundleFormatError("must be an object of strings", where="generator")
        return cls(
            origin=_str(top["origin"], "origin"),
            system=_str(scope["system"], "scope.system"),
            as_of=as_of,
            frameworks=tuple(_list(scope["frameworks"], "scope.frameworks", _str)),
            seqs=tuple(_list(scope["seqs"], "scope.seqs", _int)),
            checkpoint_note=_str(checkpoint["note"], "checkpoint.note"),
            earlier=tuple(_list(top["consistency"], "consistency",
                                lambda v, w: EarlierCheckpoint.from_json(v, where=w))),
            entries=tuple(_list(top["entries"], "entries", lambda v, w: BundleEntry.from_json(v, where=w))),
            definitions=tuple(_list(top["definitions"], "definitions",
                                    lambda v, w: DefinitionFile.from_json(v, where=w))),
            policy=DefinitionFile.from_json(top["approval_policy"], where="approval_policy"),
            coverage=coverage,
            generator=dict(generator),
            completeness=completeness,
        )


def dump_json(obj: Any) -> bytes:
    """JSON with sorted keys and one-space indent: one byte form per value."""
    return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


# ---------------------------------------------------------------------- parsing helpers


def _object(data: Any, where: str, fields: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BundleFormatError("must be an object", where=where)
    missing = sorted(fields - set(data))
    if missing:
        raise BundleFormatError(f"missing field {missing[0]!r}", where=where)
    unknown = sorted(set(data) - fields)
    if unknown:
        raise BundleFormatError(f"unknown field {unknown[0]!r}", where=where)
    return data


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BundleFormatError("must be a string", where=where)
    return value


def _int(value: Any, where: str, *, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise BundleFormatError(f"must be an integer of at least {minimum}", where=where)
    return value


def _hash(value: Any, where: str) -> bytes:
    text = _str(value, where)
    if len(text) != 64 or text != text.lower():
        raise BundleFormatError("must be 64 lowercase hex digits", where=where)
    try:
        return bytes.fromhex(text)
    except ValueError as e:
        raise BundleFormatError("must be 64 lowercase hex digits", where=where) from e


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(_str(value, where), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BundleFormatError("must be standard base64", where=where) from e


def _list(value: Any, where: str, item: Callable[[Any, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise BundleFormatError("must be a list", where=where)
    return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]
