"""Render reports: jinja2 templates to HTML, HTML to PDF with WeasyPrint.

Templates live in ``reports/templates`` and are rendered with autoescaping and
``StrictUndefined`` (a missing value is an error, never an empty cell).
WeasyPrint is imported inside :func:`html_to_pdf` only, so commands that do not
render a PDF (and ``assure --help``) work without Pango.

Output is deterministic: the PDF's dates come from the caller (the package's
``as_of``), attachments and embedded font subsets carry the same date, and the
PDF file identifier is given by the caller, so the same input gives the same
bytes on the same machine (same WeasyPrint and fonts).

PDF/A-3b: WeasyPrint writes most of what ISO 19005-3 asks (output intent,
embedded fonts, XMP identification, associated files). :func:`pdfa_finish`
makes good what it leaves out, on its object tree before the file is written:
the XMP metadata stream is stored unfiltered (6.6.2.1), every embedded CID
font carries a CIDSet naming every CID its program holds (ISO 19005-1 6.3.5
requires one; ISO 19005-3 6.2.11.4.2 requires any present to be complete), and
the catalog's associated-files array names each file once. The document's
dates are set to the second in both the Info dictionary and the XMP packet, so
the two agree exactly. What is checked, and with which validator, is in
``tests/reports/test_pdfa.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

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
    """The jinja2 environment: autoescape on, undefined values are errors; filter ``keepids``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["keepids"] = keep_ids
    return env


#: An identifier inside prose (``EU-RMS-01``, ``MEASURE-2.10``, ``A.6.1.2``, ``red_team``) or a
#: timestamp: tokens the layout must not break at their hyphens, dots or colons.
_TOKEN = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
    r"|(?<![\w.-])[A-Za-z0-9]+(?:[-._][A-Za-z0-9]+)+(?![\w])"
)
#: Longer tokens may break (a column could not hold them whole).
_LONGEST_KEPT = 48


def keep_ids(text: Any) -> Markup:
    """``text`` escaped, with each identifier and timestamp in it kept on one line.

    Free text (a control's reason, a gate's reasons) names controls and
    requirements whose hyphens the line breaker would otherwise break at.
    """
    text = str(text)
    out, last = [], 0
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        out.append(escape(text[last:m.start()]))
        out.append(Markup('<span class="nw">%s</span>') % token if len(token) <= _LONGEST_KEPT else escape(token))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


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
    # One date, to the second, for Info and XMP alike (Info dates cannot hold fractions).
    stamp = when.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    document.metadata.created = document.metadata.modified = stamp
    options: dict[str, Any] = {"attachments": embedded}
    if variant:
        options["pdf_variant"] = variant
    if identifier is not None:
        options["pdf_identifier"] = identifier
    level = re.fullmatch(r"pdf/a-([1-3])([abu])", variant or "")
    finisher = partial(pdfa_finish, part=int(level[1]), conformance=level[2].upper()) if level else None
    with _source_date_epoch(when):
        return document.write_pdf(finisher=finisher, **options)  # type: ignore[no-any-return]


def pdfa_finish(document: Any, pdf: Any, *, part: int, conformance: str) -> None:
    """Complete WeasyPrint's PDF/A output (a ``write_pdf`` finisher; ``pdf`` is a pydyf PDF).

    * the XMP packet is written again from the Info dictionary, unfiltered
      (ISO 19005-3 6.6.2.1), every property an element of one ``rdf:Description``
      that declares its namespaces (some validators look for them there), with
      the same title, creator tool, producer and dates as Info (6.6.3);
    * every embedded TrueType CID font gets a CIDSet that names each CID below the
      glyph count of its (GID-preserving) subset: complete, as 6.2.11.4.2 wants,
      and present, as PDF/A-1 validators want;
    * the catalog's ``/AF`` array lists each file specification once.
    """
    import pydyf

    del document  # the finisher protocol passes it; everything needed is in ``pdf``

    def deref(ref: Any) -> Any:
        return pdf.objects[int(bytes(ref).split()[0])] if isinstance(ref, (bytes, str)) else ref

    info = {k: str(v.string) for k, v in pdf.info.items() if isinstance(v, pydyf.String)}
    metadata = deref(pdf.catalog["Metadata"])
    metadata.stream = [xmp_packet(info, part=part, conformance=conformance)]
    metadata.compress = False
    if "AF" in pdf.catalog:
        unique = list(dict.fromkeys(bytes(r) if isinstance(r, (bytes, str)) else r for r in pdf.catalog["AF"]))
        pdf.catalog["AF"] = pydyf.Array(unique)
    for obj in list(pdf.objects):
        if not isinstance(obj, dict) or obj.get("Type") != "/FontDescriptor" or "FontFile2" not in obj:
            continue
        if "CIDSet" in obj:
            continue
        program = b"".join(_as_bytes(chunk) for chunk in deref(obj["FontFile2"]).stream)
        cidset = pydyf.Stream([cid_set(glyph_count(program))], compress=False)
        pdf.add_object(cidset)
        obj["CIDSet"] = cidset.reference


_XMP_NAMESPACES = {
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
}


def xmp_packet(info: dict[str, str], *, part: int, conformance: str) -> bytes:
    """The XMP metadata packet of a PDF/A file, equivalent to its Info dictionary.

    Args:
        info: Info entries as text (``Title``, ``Creator``, ``Producer``,
            ``CreationDate``, ``ModDate``; dates as ``D:YYYYMMDDHHmmSSZ``).
        part: the PDF/A part (``pdfaid:part``).
        conformance: the conformance level (``pdfaid:conformance``).
    """
    from xml.sax.saxutils import escape

    props = [f"<pdfaid:part>{part}</pdfaid:part>", f"<pdfaid:conformance>{conformance}</pdfaid:conformance>"]
    if "Title" in info:
        props.append('<dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
                     f"{escape(info['Title'])}</rdf:li></rdf:Alt></dc:title>")
    if "Creator" in info:
        props.append(f"<xmp:CreatorTool>{escape(info['Creator'])}</xmp:CreatorTool>")
    for key, name in (("CreationDate", "xmp:CreateDate"), ("ModDate", "xmp:ModifyDate")):
        if key in info:
            props.append(f"<{name}>{xmp_date(info[key])}</{name}>")
    if "Producer" in info:
        props.append(f"<pdf:Producer>{escape(info['Producer'])}</pdf:Producer>")
    declared = " ".join(f'xmlns:{k}="{v}"' for k, v in _XMP_NAMESPACES.items())
    body = "\n".join(f"   {p}" for p in props)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" {declared}>\n{body}\n  </rdf:Description>\n'
        " </rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    ).encode()


def xmp_date(pdf_date: str) -> str:
    """An Info date (``D:YYYYMMDDHHmmSS`` and ``Z`` or an offset) as an XMP date, same instant.

    Raises:
        RenderError: if it is not a date WeasyPrint writes.
    """
    m = re.fullmatch(r"D:(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(Z|[+-]\d\d'\d\d'?)?(?:00'00')?", pdf_date)
    if not m:
        raise RenderError(f"unexpected PDF date {pdf_date!r}")
    y, mo, d, h, mi, sec, zone = m.groups()
    zone = "Z" if zone in (None, "Z") else zone[:3] + ":" + zone[4:6]
    return f"{y}-{mo}-{d}T{h}:{mi}:{sec}{zone}"


def _as_bytes(part: Any) -> bytes:
    return part if isinstance(part, bytes) else str(part).encode("latin-1")


def glyph_count(program: bytes) -> int:
    """``numGlyphs`` of a TrueType/OpenType font program (its ``maxp`` table).

    Raises:
        RenderError: if the program has no readable ``maxp`` table.
    """
    try:
        tables = int.from_bytes(program[4:6], "big")
        for i in range(tables):
            entry = program[12 + 16 * i: 28 + 16 * i]
            if entry[:4] == b"maxp":
                offset = int.from_bytes(entry[8:12], "big")
                return int.from_bytes(program[offset + 4: offset + 6], "big")
    except (IndexError, ValueError) as e:  # pragma: no cover - WeasyPrint writes valid fonts
        raise RenderError(f"cannot read an embedded font's glyph count ({e})") from e
    raise RenderError("an embedded font has no maxp table")


def cid_set(count: int) -> bytes:
    """A CIDSet bit string naming CIDs ``0 .. count-1`` (high-order bit first, as PDF 9.8.3 says)."""
    full, rest = divmod(count, 8)
    return b"\xff" * full + (bytes([(0xFF << (8 - rest)) & 0xFF]) if rest else b"")


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
