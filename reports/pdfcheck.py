"""Read back what ``audit.pdf`` states, to check it against recomputed figures.

Three things are checked: the PDF carries ``bundle.json`` as an attachment, byte
for byte the package's; its text states each framework's coverage sentence
(:func:`reports.model.coverage_statement`) with the recomputed figures; and every
page's footer shows the package key's fingerprint and the checkpoint root.

Text is compared with all whitespace removed, so line and column breaks the
layout introduces do not matter. pypdf is imported lazily; without it the PDF
cannot be checked and :class:`~reports.errors.RenderError` says so.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from reports.errors import BundleFormatError, Finding, RenderError

PDF_NAME = "audit.pdf"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PdfContent:
    """What a PDF holds, as text.

    Attributes:
        attachments: embedded files by name (a name may occur more than once).
        pages: the text of each page, whitespace removed.
    """

    attachments: dict[str, list[bytes]]
    pages: list[str]


def compact(text: str) -> str:
    """``text`` with every whitespace character removed."""
    return _SPACE.sub("", text)


@lru_cache(maxsize=4)
def read_pdf(data: bytes) -> PdfContent:
    """Extract attachments and per-page text (the last few results are kept: text
    extraction is most of the cost of verifying a package).

    Raises:
        RenderError: if pypdf is not installed.
        BundleFormatError: if the bytes are not a readable PDF.
    """
    try:
        import pypdf
        from pypdf.errors import PyPdfError
    except ImportError as e:
        raise RenderError("checking audit.pdf needs pypdf: pip install pypdf") from e
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        attachments = {name: list(blobs) for name, blobs in reader.attachments.items()}
        pages = [compact(page.extract_text() or "") for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BundleFormatError(f"not a readable PDF ({e})", where=PDF_NAME) from e
    return PdfContent(attachments, pages)


def check_pdf(
    data: bytes, *, bundle: bytes, statements: Sequence[str], key_id: str | None, root_hex: str | None
) -> list[Finding]:
    """Check the PDF against the bundle and the recomputed figures.

    Args:
        data: the PDF bytes.
        bundle: the package's ``bundle.json`` bytes.
        statements: the coverage sentences the PDF must state.
        key_id: the package key fingerprint every footer must show (None: skip).
        root_hex: the checkpoint root every footer must show (None: skip).

    Returns:
        What does not match (empty if everything does).

    Raises:
        RenderError: if pypdf is not installed.
    """
    try:
        pdf = read_pdf(data)
    except BundleFormatError as e:
        return [Finding(PDF_NAME, e.reason.removeprefix(f"{PDF_NAME}: "))]
    out = []
    attached = pdf.attachments.get("bundle.json", [])
    if len(attached) != 1:
        out.append(Finding(PDF_NAME, f"carries {len(attached)} bundle.json attachments, not one"))
    elif attached[0] != bundle:
        out.append(Finding(PDF_NAME, "its attached bundle.json differs from the package's bundle.json"))
    text = "".join(pdf.pages)
    for sentence in statements:
        if compact(sentence) not in text:
            out.append(Finding(PDF_NAME, f"does not state the recomputed coverage: {sentence!r}"))
    for number, page in enumerate(pdf.pages, 1):
        if key_id is not None and key_id not in page:
            out.append(Finding(f"{PDF_NAME} page {number}", "its footer does not show the package key fingerprint"))
        if root_hex is not None and root_hex not in page:
            out.append(Finding(f"{PDF_NAME} page {number}", "its footer does not show the checkpoint root"))
    return out
