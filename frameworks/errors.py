"""Errors raised while loading framework, crosswalk and control files.

A load error lists every problem found, each located by file, line and YAML
path (``controls[3].satisfies[0]``), so ``assure frameworks validate`` can
report them all at once. It is an :class:`ledger.errors.InputError`, so the CLI
exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import InputError

MAX_SHOWN = 50
"""How many problems the message lists before summarising the rest."""


@dataclass(frozen=True)
class LoadProblem:
    """One problem in one file.

    Attributes:
        file: the file's path as given (or its name for built-ins).
        line: 1-based line number, when known.
        path: where in the document, e.g. ``requirements[4].parent``.
        message: what is wrong.
    """

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class FrameworkLoadError(InputError):
    """One or more files of the framework library are invalid.

    Attributes:
        problems: every problem found, in file order.
    """

    def __init__(self, problems: list[LoadProblem]):
        if not problems:
            raise ValueError("FrameworkLoadError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        self.source = first.file
        self.field = first.path or None
        self.reason = first.message
        lines = [str(p) for p in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"(and {len(self.problems) - MAX_SHOWN} more problems)")
        Exception.__init__(self, "\n".join(lines))
