"""Render reports: jinja2 templates to HTML, HTML to PDF with WeasyPrint.

Templates live in ``reports/templates`` and are rendered with autoescaping and
``StrictUndefined`` (a missing value is an error, never an empty cell).
WeasyPrint is imported inside :func:`html_to_pdf` only, so commands that do not
render a PDF (and ``assure --help``) work without Pango.

Output is deterministic: the PDF's dates come from the caller (the package's
``as_of``), attachments and embedded font subsets carry the same date, and the
PDF file identifier is given by the caller, so the same input gives the same
bytes on the same machine (same WeasyPrint and fonts).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from reports.errors import RenderError

TEMPLATES = Path(__file__).with_name("templates")
REPORT_TEMPLATE = "report.html.j2"
PDF_VARIANT = "pdf/a-3b"


class _QuietFontWarning(logging.Filter):
    """Drop WeasyPrint's notice that it subsets fonts with fontTools (harmless, every run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "HarfBuzz-Subset" not in record.getMessage()


_QUIET = _QuietFontWarning()


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (PDF/A-3 associated file).

    Attributes:
        name: the file name shown by PDF readers.
        data: its bytes.
        description: a one-line description.
    """

    name: str
    data: bytes
    description: str


@cache
def environment() -> jinja2.Environment:
    """The jinja2 environment: autoescape on, undefined values are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def render_html(context: dict[str, Any], *, template: str = REPORT_TEMPLATE) -> str:
    """Render a template to a self-contained HTML document (styles inline)."""
    return environment().get_template(template).render(**context)


def html_to_pdf(
    html: str,
    *,
    created: dt.datetime,
    attachments: Sequence[PdfAttachment] = (),
    identifier: bytes | None = None,
    variant: str | None = PDF_VARIANT,
) -> bytes:
    """Lay out and write a PDF.

    Args:
        html: the document (as :func:`render_html` makes it).
        created: the date written into the PDF and its attachments.
        attachments: files to embed.
        identifier: the PDF file identifier (default: derived by WeasyPrint).
        variant: a WeasyPrint ``pdf_variant`` (PDF/A-3b by default), or None.

    Returns:
        The PDF bytes.

    Raises:
        RenderError: if WeasyPrint (or the Pango libraries it needs) is missing.
    """
    try:
        from weasyprint import HTML, Attachment
    except (ImportError, OSError) as e:  # OSError: Pango/GObject libraries missing
        raise RenderError(f"cannot render PDF: WeasyPrint is not usable here ({e})") from e
    logger = logging.getLogger("weasyprint")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    when = created.astimezone(dt.UTC)
    embedded = [
        Attachment(file_obj=io.BytesIO(a.data), name=a.name, description=a.description,
                   created=when, modified=when, relationship="Data")
        for a in attachments
    ]
    document = HTML(string=html, base_url=str(TEMPLATES)).render()
    options: dict[str, Any] = {"attachments": embedded}
    if variant:
        options["pdf_variant"] = variant
    if identifier is not None:
        options["pdf_identifier"] = identifier
    with _source_date_epoch(when):
        return document.write_pdf(**options)  # type: ignore[no-any-return]


@contextmanager
def _source_date_epoch(when: dt.datetime) -> Iterator[None]:
    """Set ``SOURCE_DATE_EPOCH`` while writing: fontTools stamps every font subset
    with the current time unless it is set (reproducible-builds.org convention)."""
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(max(0, int(when.timestamp())))
    try:
        yield
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
