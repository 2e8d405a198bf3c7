"""Errors of the reports package: building, rendering and verifying audit packages.

Exit codes follow :mod:`ledger.errors`: a package that fails verification is an
integrity failure (exit 1), a file that cannot be read or a missing tool is bad
input (exit 2). ``verify-package`` collects its findings instead of raising on
the first one, so that the auditor learns everything that is wrong at once;
these errors are for the cases where nothing further can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import InputError, IntegrityError


class BundleFormatError(IntegrityError):
    """``bundle.json`` (or a part of it) is not what a package carries (exit 1).

    Attributes:
        where: the part of the bundle, e.g. ``entries[3].leaf``.
    """

    def __init__(self, reason: str, *, where: str = "bundle.json"):
        self.where = where
        super().__init__(f"{where}: {reason}")


class RenderError(InputError):
    """The PDF cannot be produced or read on this machine (WeasyPrint or pypdf missing)."""


@dataclass(frozen=True)
class Finding:
    """One thing verification found wrong, and where.

    Attributes:
        where: what failed: a file, ``entry 12``, ``checkpoint``, ``coverage``.
        reason: what was wrong with it.
    """

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"
