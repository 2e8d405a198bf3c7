"""The loaded framework library: frameworks, crosswalks and control catalogs.

These are plain, immutable objects built by :func:`frameworks.loader.load_library`
after every file has been validated and every reference resolved. Requirements
are addressed by their global id ``<framework>:<requirement>``, e.g.
``nist-ai-rmf:GOVERN-1.1``; :meth:`Library.resolve` also accepts the aliases a
framework declares (``GOVERN 1.1``, ``GV-1.1``, ``Art 9(2)``).

This module does no I/O and builds no graph (see :mod:`controls.graph`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from frameworks.schema import (
    Amendment,
    Applicability,
    CatalogInfo,
    Control,
    CrosswalkInfo,
    CrosswalkMapping,
    FrameworkInfo,
    RequirementSpec,
    SourceInfo,
    VocabularyEntry,
)
from ledger.errors import NotFoundError

Origin = Literal["builtin", "user", "extra"]


@dataclass(frozen=True)
class SourceFile:
    """One file of the library with the exact bytes that were loaded.

    Attributes:
        name: how messages name the file (``nist-ai-rmf.yaml``, or the path given).
        path: where it was read from.
        origin: ``builtin`` (shipped), ``user`` (the frameworks directory) or
            ``extra`` (named on the command line for validation).
        sha256: hex SHA-256 of ``data``; what an audit package records.
        data: the raw bytes, kept so the definition can be embedded verbatim.
    """

    name: str
    path: Path
    origin: Origin
    sha256: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Requirement:
    """A node of a framework's hierarchy.

    Attributes:
        node_id: global id, ``<framework>:<id>``.
        framework: the framework id.
        id: the id inside the framework (``GOVERN-1.1``, ``A.6.2.4``, ``Art-9.2``).
        parent: the parent's node id, or None for a root.
        order: position in the framework file (document order).
        spec: everything else, as written in the file.
    """

    node_id: str
    framework: str
    id: str
    parent: str | None
    order: int
    spec: RequirementSpec = field(repr=False)

    @property
    def type(self) -> str:
        """The node type (``function``, ``subcategory``, ``control``, ``paragraph``...)."""
        return self.spec.type

    @property
    def title(self) -> str | None:
        """The short title, if the framework has one."""
        return self.spec.title

    @property
    def text(self) -> str | None:
        """The official text where its licence allows reproducing it."""
        return self.spec.text

    @property
    def summary(self) -> str | None:
        """Our own one-line paraphrase (used where the text is copyrighted)."""
        return self.spec.summary

    @property
    def assessable(self) -> bool:
        """Whether controls can satisfy it (false for grouping nodes and non-duties)."""
        return self.spec.assessable

    @property
    def applicability(self) -> Applicability | None:
        """Actors, system scope and dates for regulatory provisions; None = applies to all."""
        return self.spec.applicability

    @property
    def amendment(self) -> Amendment | None:
        """How an amending act changed this provision, if it did."""
        return self.spec.amendment

    @property
    def display_title(self) -> str:
        """A one-line label: the title, else the summary or text cut at 90 characters."""
        if self.spec.title:
            return self.spec.title
        words = self.spec.summary or self.spec.text or ""
        return words if len(words) <= 90 else words[:89].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Framework:
    """A framework and its requirements in document order."""

    info: FrameworkInfo
    source: SourceInfo
    file: SourceFile
    vocabularies: Mapping[str, Mapping[str, VocabularyEntry]]
    requirements: tuple[Requirement, ...]

    @property
    def id(self) -> str:
        """The framework id (``nist-ai-rmf``)."""
        return self.info.id

    @property
    def sha256(self) -> str:
        """Content hash of the framework file."""
        return self.file.sha256

    @property
    def assessable(self) -> bool:
        """Whether coverage assesses it (false for a profile such as NIST AI 600-1)."""
        return self.info.assessable

    @property
    def profile_of(self) -> str | None:
        """The framework this one is a profile of, if it is one (``nist-ai-rmf``)."""
        return self.info.profile_of

    def roots(self) -> list[Requirement]:
        """Requirements without a parent, in document order."""
        return [r for r in self.requirements if r.parent is None]


@dataclass(frozen=True)
class Crosswalk:
    """A set of mappings from one source, with its licence and review status."""

    info: CrosswalkInfo
    source: SourceInfo
    file: SourceFile
    mappings: tuple[CrosswalkMapping, ...]

    @property
    def id(self) -> str:
        """The crosswalk id."""
        return self.info.id


@dataclass(frozen=True)
class Catalog:
    """A control catalog (the built-in default or a user's)."""

    info: CatalogInfo
    file: SourceFile
    controls: tuple[Control, ...]

    @property
    def id(self) -> str:
        """The catalog id."""
        return self.info.id


def _alias_key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).casefold()


@dataclass(frozen=True)
class Library:
    """Everything loaded: frameworks, crosswalks, catalogs, and lookup tables.

    Attributes:
        frameworks: by framework id, in load order.
        crosswalks: by crosswalk id.
        catalogs: by catalog id.
        requirements: every requirement by node id.
        controls: every control by control id.
        content_hash: SHA-256 over the names and hashes of all files loaded.
    """

    frameworks: Mapping[str, Framework]
    crosswalks: Mapping[str, Crosswalk]
    catalogs: Mapping[str, Catalog]
    requirements: Mapping[str, Requirement]
    controls: Mapping[str, Control]
    content_hash: str
    _aliases: Mapping[tuple[str, str], str] = field(repr=False, default_factory=dict)

    @property
    def files(self) -> list[SourceFile]:
        """Every file that went into the library."""
        return (
            [f.file for f in self.frameworks.values()]
            + [c.file for c in self.crosswalks.values()]
            + [c.file for c in self.catalogs.values()]
        )

    def framework_hashes(self) -> dict[str, str]:
        """SHA-256 of each framework's definition file, by framework id."""
        return {fid: fw.sha256 for fid, fw in self.frameworks.items()}

    def framework(self, framework_id: str) -> Framework:
        """The framework with this id.

        Raises:
            NotFoundError: naming the frameworks that exist.
        """
        try:
            return self.frameworks[framework_id]
        except KeyError:
            raise NotFoundError(
                f"unknown framework {framework_id!r} (known: {', '.join(self.frameworks)})"
            ) from None

    def control(self, control_id: str) -> Control:
        """The control with this id.

        Raises:
            NotFoundError: if no catalog defines it.
        """
        try:
            return self.controls[control_id]
        except KeyError:
            raise NotFoundError(f"unknown control {control_id!r}") from None

    def resolve(self, ref: str, *, framework: str | None = None) -> Requirement:
        """Find a requirement by node id, local id or alias.

        Accepted forms: ``nist-ai-rmf:GOVERN-1.1``; with ``framework`` given,
        ``GOVERN-1.1``, ``GOVERN 1.1`` or ``GV-1.1``; an alias prefixed by its
        framework (``eu-ai-act:Art 9(2)``); or a bare alias that only one
        framework declares.

        Raises:
            NotFoundError: when nothing (or more than one framework) matches.
        """
        if ref in self.requirements:
            return self.requirements[ref]
        prefix, sep, rest = ref.partition(":")
        if sep and prefix in self.frameworks:
            framework, ref = prefix, rest
        if framework is not None:
            self.framework(framework)
            node = self._aliases.get((framework, _alias_key(ref)))
            if node is None:
                raise NotFoundError(f"unknown requirement {ref!r} in {framework}")
            return self.requirements[node]
        matches = sorted(
            {node for (fw, key), node in self._aliases.items() if key == _alias_key(ref)}
        )
        if len(matches) == 1:
            return self.requirements[matches[0]]
        if matches:
            raise NotFoundError(f"{ref!r} is ambiguous: {', '.join(matches)}")
        raise NotFoundError(
            f"unknown requirement {ref!r} (use <framework>:<id>, e.g. nist-ai-rmf:GOVERN-1.1)"
        )


def alias_index(requirements: Mapping[str, Requirement]) -> dict[tuple[str, str], str]:
    """Build the (framework, normalised alias) → node id table used by :meth:`Library.resolve`.

    The local id is always an alias; declared aliases are added after it.
    """
    index: dict[tuple[str, str], str] = {}
    for node_id, req in requirements.items():
        for alias in (req.id, *req.spec.aliases):
            index.setdefault((req.framework, _alias_key(alias)), node_id)
    return index
