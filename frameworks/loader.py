"""Load and validate the framework library: built-in YAML plus a user directory.

:func:`load_library` reads every file, validates it against
:mod:`frameworks.schema`, then checks what no single file can: requirement ids
are unique, parents exist and form no cycle, aliases are unambiguous,
crosswalks and controls name requirements that exist, control ids are unique.
All problems are collected and raised together as a
:class:`~frameworks.errors.FrameworkLoadError` naming file, line and path.

A user file whose framework, crosswalk or catalog id equals a built-in one
replaces the built-in (so a copied and edited ``controls.yaml`` takes over);
two files of the same origin with one id are an error.

Results are cached in-process by the content hash of the files read, so
repeated calls cost one read and hash of each file. The module never writes
outside :func:`install_file`, and never reads environment variables.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from frameworks import DEFAULT_USER_DIR, disk_cache
from frameworks.errors import FrameworkLoadError, LoadProblem
from frameworks.library import (
    Catalog,
    Crosswalk,
    Framework,
    Library,
    Origin,
    Requirement,
    SourceFile,
    alias_index,
)
from frameworks.schema import (
    FORMATS,
    Control,
    ControlsFile,
    CrosswalkFile,
    FrameworkFile,
    library_file,
)
from ledger.wording import a

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent
"""Where the shipped YAML lives (this package)."""


_ORIGIN_RANK: dict[str, int] = {"builtin": 0, "user": 1, "extra": 2}
_CACHE: dict[str, Library] = {}
_CACHE_SIZE = 8
# Validated file models by content hash: frozen, so libraries can share them.
_PARSED: dict[str, FrameworkFile | CrosswalkFile | ControlsFile] = {}
_PARSED_SIZE = 64

Path_ = tuple[str | int, ...]


_BUILTIN_ORDER = ("nist-ai-rmf.yaml", "nist-ai-600-1.yaml", "iso-42001.yaml", "eu-ai-act.yaml")


def builtin_files() -> list[Path]:
    """The shipped definition files: ``frameworks/*.yaml`` and ``crosswalks/*.yaml``.

    Frameworks come in a fixed order (NIST AI RMF, AI 600-1, ISO/IEC 42001, EU AI
    Act), which is the order listings and query results use.
    """

    def rank(p: Path) -> tuple[int, str]:
        return (_BUILTIN_ORDER.index(p.name) if p.name in _BUILTIN_ORDER else len(_BUILTIN_ORDER), p.name)

    return sorted(BUILTIN_DIR.glob("*.yaml"), key=rank) + sorted((BUILTIN_DIR / "crosswalks").glob("*.yaml"))


def user_files(user_dir: Path) -> list[Path]:
    """YAML files below a user frameworks directory (hidden entries skipped)."""
    if not user_dir.is_dir():
        return []
    found = [
        p
        for p in user_dir.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(user_dir).parts)
    ]
    return sorted(found)


def _read(path: Path, origin: Origin, name: str) -> SourceFile:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FrameworkLoadError(
            [LoadProblem(name, None, "", f"cannot read: {e.strerror or e}")]
        ) from e
    return SourceFile(name, path, origin, hashlib.sha256(data).hexdigest(), data)


def read_sources(
    *, user_dir: Path | None = None, extra_files: Sequence[Path] = ()
) -> list[SourceFile]:
    """Read the bytes of every file the library would load, in precedence order.

    Args:
        user_dir: the user frameworks directory (missing = none).
        extra_files: further files (e.g. being validated); a file that is also in
            ``user_dir`` is read once.

    Raises:
        FrameworkLoadError: if a named file cannot be read.
    """
    sources = [_read(p, "builtin", p.relative_to(BUILTIN_DIR).as_posix()) for p in builtin_files()]
    seen: set[Path] = set()
    if user_dir is not None:
        for p in user_files(user_dir):
            seen.add(p.resolve())
            sources.append(_read(p, "user", str(p)))
    for p in extra_files:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            sources.append(_read(p, "extra", str(p)))
    return sources


def load_library(
    *, user_dir: Path | None = None, extra_files: Sequence[Path] = ()
) -> Library:
    """Load built-in definitions, the user directory and any extra files.

    Args:
        user_dir: user frameworks directory; files there add to or replace
            built-ins. None or a missing directory means built-ins only.
        extra_files: further files to include (``assure frameworks validate``).

    Returns:
        The validated library (cached by content hash).

    Raises:
        FrameworkLoadError: listing every problem, with file, line and path.
    """
    return _build_cached(read_sources(user_dir=user_dir, extra_files=extra_files))


def _build_cached(sources: list[SourceFile]) -> Library:
    """Build (or fetch from the cache) the library of these exact files."""
    key = hashlib.sha256(
        "\n".join(f"{s.origin} {s.name} {s.sha256}" for s in sources).encode()
    ).hexdigest()
    library = _CACHE.get(key)
    if library is not None:
        return library
    library = disk_cache.load(key)
    if library is None:
        library = _Builder(sources, key).build()
        disk_cache.store(key, library)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = library
    return library


def load_library_from_bytes(
    files: Sequence[tuple[str, bytes]], *, origin: Origin = "builtin"
) -> Library:
    """Build a library from in-memory definition files, reading nothing from disk.

    This is how an audit package's embedded definitions are loaded offline: the
    files are exactly the ones a library was built from (``Library.files``), so
    no precedence between origins is needed and two files with one id are an
    error, as within one origin on disk. Frameworks keep the order of ``files``.

    Args:
        files: ``(name, bytes)`` pairs; the name is how messages refer to a file.
        origin: the origin recorded on every file.

    Returns:
        The validated library (cached by content hash, like :func:`load_library`).

    Raises:
        FrameworkLoadError: listing every problem, with file, line and path.
    """
    return _build_cached([
        SourceFile(name, Path(name), origin, hashlib.sha256(data).hexdigest(), bytes(data))
        for name, data in files
    ])


def validate_files(paths: Iterable[Path], *, user_dir: Path | None = None) -> Library:
    """Validate files in the context of the built-ins and the user directory.

    Args:
        paths: the files to check.
        user_dir: the user frameworks directory they would join.

    Returns:
        The library the files would produce.

    Raises:
        FrameworkLoadError: with every problem found.
    """
    return load_library(user_dir=user_dir, extra_files=list(paths))


def validate_new_files(
    files: Sequence[tuple[str, bytes]], *, user_dir: Path | None = None
) -> Library:
    """Validate files that are not written yet, with the built-ins and the user directory.

    What ``assure frameworks validate`` would say of them once written (they take
    the ``extra`` origin, so one may replace a built-in of the same id).

    Args:
        files: ``(name, bytes)`` pairs; the name is how messages refer to a file.
        user_dir: the user frameworks directory they would join.

    Raises:
        FrameworkLoadError: with every problem found.
    """
    sources = read_sources(user_dir=user_dir) + [
        SourceFile(name, Path(name), "extra", hashlib.sha256(data).hexdigest(), bytes(data))
        for name, data in files
    ]
    return _build_cached(sources)


def install_file(path: Path, *, user_dir: Path) -> Path:
    """Validate a file with the current library and copy it into the user directory.

    Args:
        path: the framework, crosswalk or controls file to add.
        user_dir: destination directory (created if missing).

    Returns:
        The installed file's path.

    Raises:
        FrameworkLoadError: if the file is invalid, or the library with it is.
    """
    target = user_dir / path.name
    if target.exists() and target.resolve() == path.resolve():
        validate_files([], user_dir=user_dir)
        return target
    # Validate as the directory will look after the copy: an older file of the
    # same name is replaced, so leave it out of the check.
    others = [p for p in user_files(user_dir) if p.resolve() != target.resolve()]
    _Builder(read_sources(extra_files=[*others, path]), "").build()
    user_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    log.info("installed %s as %s", path, target)
    return target


@dataclass
class _Parsed:
    source: SourceFile
    model: FrameworkFile | CrosswalkFile | ControlsFile


class _Builder:
    """Turns source files into a :class:`Library`, collecting every problem."""

    def __init__(self, sources: list[SourceFile], key: str):
        self.sources = sources
        self.key = key
        self.problems: list[LoadProblem] = []
        self._nodes: dict[str, Any] = {}

    def _locate(self, source: SourceFile, path: Path_) -> tuple[int | None, Path_]:
        from frameworks import _yaml

        # Compose each file at most once, however many problems it has.
        if source.sha256 not in self._nodes:
            self._nodes[source.sha256] = _yaml.compose(source.data)
        return _yaml.locate(self._nodes[source.sha256], path)

    def problem(self, source: SourceFile, path: Path_, message: str) -> None:
        line, found = self._locate(source, path)
        self._add(source, line, found, message)

    def _add(self, source: SourceFile, line: int | None, found: Path_, message: str) -> None:
        from frameworks import _yaml

        self.problems.append(LoadProblem(source.name, line, _yaml.format_path(found), message))

    def build(self) -> Library:
        parsed = [p for p in (self._parse(s) for s in self.sources) if p is not None]
        self._raise_if_problems()
        chosen = self._choose(parsed)
        frameworks: dict[str, Framework] = {}
        for item in chosen:
            if isinstance(item.model, FrameworkFile):
                fw = self._framework(item.source, item.model)
                frameworks[fw.id] = fw
        requirements = {r.node_id: r for fw in frameworks.values() for r in fw.requirements}
        self._check_profiles(chosen, frameworks)
        crosswalks = {
            item.model.crosswalk.id: self._crosswalk(item.source, item.model, requirements)
            for item in chosen
            if isinstance(item.model, CrosswalkFile)
        }
        catalogs = [
            self._catalog(item.source, item.model, requirements)
            for item in chosen
            if isinstance(item.model, ControlsFile)
        ]
        controls = self._controls(catalogs)
        self._raise_if_problems()
        return Library(
            frameworks=frameworks,
            crosswalks=crosswalks,
            catalogs={c.id: c for c in catalogs},
            requirements=requirements,
            controls=controls,
            content_hash=self.key,
            _aliases=alias_index(requirements),
        )

    def _raise_if_problems(self) -> None:
        if self.problems:
            raise FrameworkLoadError(self.problems)

    # --- one file ---------------------------------------------------------

    def _parse(self, source: SourceFile) -> _Parsed | None:
        # PyYAML is imported only to build a library (the disk cache spares it).
        from frameworks import _yaml

        model = _PARSED.get(source.sha256)
        if model is not None:
            return _Parsed(source, model)
        try:
            data = _yaml.parse(source.data)
        except _yaml.yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e)
            self.problems.append(
                LoadProblem(source.name, _yaml.error_line(e), "", f"invalid YAML: {problem}")
            )
            return None
        if not isinstance(data, dict):
            self.problem(source, (), "expected a mapping with a 'format' key at the top")
            return None
        if data.get("format") not in FORMATS:
            got = data.get("format")
            what = "missing 'format'" if got is None else f"unknown format {got!r}"
            self.problem(source, ("format",), f"{what} (one of: {', '.join(FORMATS)})")
            return None
        try:
            model = library_file().validate_python(data)
        except ValidationError as e:
            for err in e.errors():
                self._pydantic_problem(source, err)
            return None
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[source.sha256] = model
        return _Parsed(source, model)

    def _pydantic_problem(self, source: SourceFile, err: Any) -> None:
        loc: Path_ = tuple(err["loc"])[1:]  # drop the format tag
        line, found = self._locate(source, loc)
        kind = err["type"]
        if kind == "missing":
            message = f"missing field {loc[-1]!r}"
            found = (*found, loc[-1])
        elif kind == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        self._add(source, line, found, message)

    # --- precedence -------------------------------------------------------

    def _choose(self, parsed: list[_Parsed]) -> list[_Parsed]:
        """Keep one file per (format, id): the highest origin wins; ties are errors."""
        winners: dict[tuple[str, str], _Parsed] = {}
        for item in parsed:
            key = (item.model.format, _file_id(item.model))
            held = winners.get(key)
            if held is None:
                winners[key] = item
                continue
            rank_new = _ORIGIN_RANK[item.source.origin]
            rank_old = _ORIGIN_RANK[held.source.origin]
            if rank_new == rank_old:
                self.problem(
                    item.source,
                    (_id_block(item.model), "id"),
                    f"duplicate id {key[1]!r}: also defined in {held.source.name}",
                )
            elif rank_new > rank_old:
                log.info("%s replaces %s (%s)", item.source.name, held.source.name, key[1])
                winners[key] = item
        return list(winners.values())

    # --- frameworks -------------------------------------------------------

    def _framework(self, source: SourceFile, model: FrameworkFile) -> Framework:
        fid = model.framework.id
        index: dict[str, int] = {}
        for i, spec in enumerate(model.requirements):
            if spec.id in index:
                self.problem(
                    source,
                    ("requirements", i, "id"),
                    f"duplicate requirement id {spec.id!r} (first at requirements[{index[spec.id]}])",
                )
            else:
                index[spec.id] = i
        for i, spec in enumerate(model.requirements):
            if spec.parent is not None and spec.parent not in index:
                self.problem(
                    source, ("requirements", i, "parent"), f"unknown parent {spec.parent!r}"
                )
            for category, values in spec.tags.items():
                vocabulary = model.vocabularies.get(category)
                for j, value in enumerate(values):
                    if vocabulary is not None and value not in vocabulary:
                        self.problem(
                            source,
                            ("requirements", i, "tags", category, j),
                            f"{value!r} is not in vocabulary {category!r}",
                        )
        self._check_cycles(source, model, index)
        self._check_aliases(source, model)
        requirements = tuple(
            Requirement(
                node_id=f"{fid}:{spec.id}",
                framework=fid,
                id=spec.id,
                parent=f"{fid}:{spec.parent}" if spec.parent in index else None,
                order=i,
                spec=spec,
            )
            for i, spec in enumerate(model.requirements)
        )
        return Framework(model.framework, model.source, source, model.vocabularies, requirements)

    def _check_profiles(self, chosen: list[_Parsed], frameworks: dict[str, Framework]) -> None:
        """A framework that is not assessable has no assessable requirement; a profile's base exists."""
        for item in chosen:
            if not isinstance(item.model, FrameworkFile):
                continue
            info = item.model.framework
            if info.profile_of is not None and info.profile_of not in frameworks:
                self.problem(
                    item.source,
                    ("framework", "profile_of"),
                    f"profile of {info.profile_of!r}, which is not loaded (known: {', '.join(frameworks)})",
                )
            if not info.assessable:
                for i, spec in enumerate(item.model.requirements):
                    if spec.assessable:
                        self.problem(
                            item.source,
                            ("requirements", i, "assessable"),
                            f"{spec.id} is assessable, but framework {info.id} is not "
                            "(set assessable: false on it, or on neither)",
                        )

    def _check_cycles(self, source: SourceFile, model: FrameworkFile, index: dict[str, int]) -> None:
        parent = {s.id: s.parent for s in model.requirements if s.parent in index}
        done: set[str] = set()
        for start in parent:
            trail: list[str] = []
            node: str | None = start
            while node is not None and node not in done:
                if node in trail:
                    cycle = trail[trail.index(node) :] + [node]
                    self.problem(
                        source,
                        ("requirements", index[node], "parent"),
                        "cycle in hierarchy: " + " -> ".join(cycle),
                    )
                    break
                trail.append(node)
                node = parent.get(node)
            done.update(trail)

    def _check_aliases(self, source: SourceFile, model: FrameworkFile) -> None:
        owner: dict[str, str] = {}
        for spec in model.requirements:
            owner.setdefault(spec.id.casefold(), spec.id)
        for i, spec in enumerate(model.requirements):
            for j, alias in enumerate(spec.aliases):
                key = " ".join(alias.split()).casefold()
                held = owner.setdefault(key, spec.id)
                if held != spec.id:
                    self.problem(
                        source,
                        ("requirements", i, "aliases", j),
                        f"alias {alias!r} already names {held!r}",
                    )

    # --- crosswalks and controls ------------------------------------------

    def _crosswalk(
        self, source: SourceFile, model: CrosswalkFile, requirements: dict[str, Requirement]
    ) -> Crosswalk:
        seen: dict[tuple[str, str], int] = {}
        for i, m in enumerate(model.mappings):
            for end, node in (("from", m.source), ("to", m.target)):
                if node not in requirements:
                    self.problem(source, ("mappings", i, end), _unknown(node, requirements))
            if m.source == m.target:
                self.problem(source, ("mappings", i), "a requirement mapped to itself")
            pair = (m.source, m.target)
            if pair in seen:
                self.problem(
                    source, ("mappings", i), f"duplicate mapping (first at mappings[{seen[pair]}])"
                )
            seen.setdefault(pair, i)
        return Crosswalk(model.crosswalk, model.source, source, tuple(model.mappings))

    def _catalog(
        self, source: SourceFile, model: ControlsFile, requirements: dict[str, Requirement]
    ) -> Catalog:
        for i, control in enumerate(model.controls):
            for j, node in enumerate(control.satisfies):
                path = ("controls", i, "satisfies", j)
                req = requirements.get(node)
                if req is None:
                    self.problem(source, path, _unknown(node, requirements))
                elif not req.assessable:
                    self.problem(
                        source,
                        path,
                        f"{node} is {a(req.type)} that controls cannot satisfy "
                        "(map its assessable children instead)",
                    )
        return Catalog(model.catalog, source, tuple(model.controls))

    def _controls(self, catalogs: list[Catalog]) -> dict[str, Control]:
        controls: dict[str, Control] = {}
        where: dict[str, str] = {}
        for catalog in catalogs:
            for i, control in enumerate(catalog.controls):
                if control.id in controls:
                    self.problem(
                        catalog.file,
                        ("controls", i, "id"),
                        f"duplicate control id {control.id!r} (also in {where[control.id]})",
                    )
                    continue
                controls[control.id] = control
                where[control.id] = catalog.file.name
        return controls


def _unknown(node: str, requirements: dict[str, Requirement]) -> str:
    framework = node.partition(":")[0]
    if not any(k.startswith(framework + ":") for k in requirements):
        return f"unknown requirement {node!r} (no framework {framework!r} is loaded)"
    return f"unknown requirement {node!r}"


def _file_id(model: FrameworkFile | CrosswalkFile | ControlsFile) -> str:
    if isinstance(model, FrameworkFile):
        return model.framework.id
    if isinstance(model, CrosswalkFile):
        return model.crosswalk.id
    return model.catalog.id


def _id_block(model: FrameworkFile | CrosswalkFile | ControlsFile) -> str:
    if isinstance(model, FrameworkFile):
        return "framework"
    if isinstance(model, CrosswalkFile):
        return "crosswalk"
    return "catalog"


def control_ids(*, user_dir: Path | None = DEFAULT_USER_DIR) -> frozenset[str]:
    """Ids of every control in the built-in and user catalogs.

    Used to check the ``controls`` list of an evidence record when it is appended.

    Args:
        user_dir: the user frameworks directory (default ``.assure/frameworks``
            under the current directory; None = built-ins only).

    Raises:
        FrameworkLoadError: if the library is invalid.
    """
    return frozenset(load_library(user_dir=user_dir).controls)


def clear_cache() -> None:
    """Forget cached libraries and parsed files (benchmarks; tests of cold loads)."""
    _CACHE.clear()
    _PARSED.clear()
