"""Read back what ``audit.pdf`` states, to check it against recomputed figures.

Three things are checked: the PDF carries ``bundle.json`` as an attachment, byte
for byte the package's; its text states each framework's coverage sentence
(:func:`reports.model.coverage_statement`) with the recomputed figures; and every
page's footer shows the package key's fingerprint and the checkpoint root.

Text is compared with all whitespace removed, so line and column breaks the
layout introduces do not matter. pypdf is imported lazily; without it the PDF
cannot be checked and :class:`~reports.errors.RenderError` says so.

:func:`pdfa3b_problems` checks the ISO 19005-3 (PDF/A-3b) rules it lists with
pypdf alone; the tests add Apache PDFBox Preflight where it is installed.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
        count = len(reader.pages)
        workers = _workers(len(data), count)
        pages = _pages_in_parallel(data, count, workers) if workers > 1 else _page_texts(reader, 0, count)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as e:
        raise BundleFormatError(f"not a readable PDF ({e})", where=PDF_NAME) from e
    return PdfContent(attachments, pages)


PARALLEL_PAGES = 40
"""Pages per extra process: a shorter PDF is read in this one (starting processes costs more).
pypdf's text extraction is pure Python, ~0.12 s a page of the evidence index: a package of a
system with 10,000 records has ~290 pages."""
MAX_WORKERS = 4
"""Each process holds the whole PDF: memory grows with them."""
PARALLEL_BYTES = (2_000, 64 << 20)
"""Only a PDF of at least this many bytes a page (text worth extracting: an evidence index page
is ~30 KB; a blank one a hundred bytes) and at most this many in all is read in parallel."""
_PAGES_AT_ONCE = 8
_WORKER_READER: Any = None


def _workers(size: int, count: int) -> int:
    """Processes to read a PDF of ``size`` bytes and ``count`` pages (1: this one)."""
    per_page, most = PARALLEL_BYTES
    if not count or size > most or size // count < per_page or threading.active_count() > 1:
        return 1  # forking a threaded process is unsafe: a server reads in its own
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_WORKERS, count // PARALLEL_PAGES)


def _page_texts(reader: Any, lo: int, hi: int) -> list[str]:
    return [compact(reader.pages[i].extract_text() or "") for i in range(lo, hi)]


def _open_in_worker(data: bytes) -> None:
    import pypdf

    global _WORKER_READER
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    _WORKER_READER = pypdf.PdfReader(io.BytesIO(data), strict=False)


def _worker_pages(lo: int, hi: int) -> list[str]:
    return _page_texts(_WORKER_READER, lo, hi)


def _pages_in_parallel(data: bytes, count: int, workers: int) -> list[str]:
    """Every page's text, a few pages at a time in ``workers`` processes, in page order."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    starts = range(0, count, _PAGES_AT_ONCE)
    try:
        with ProcessPoolExecutor(workers, initializer=_open_in_worker, initargs=(data,)) as pool:
            parts = pool.map(_worker_pages, starts, [min(count, s + _PAGES_AT_ONCE) for s in starts])
            return [text for part in parts for text in part]
    except BrokenProcessPool as e:  # a reading process died (e.g. out of memory)
        raise BundleFormatError(f"not readable: a process reading its pages died ({e})", where=PDF_NAME) from e


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


# --------------------------------------------------------------------------- PDF/A-3b


_XMP_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
}
_INFO_XMP = (("/Title", "dc:title"), ("/Creator", "xmp:CreatorTool"), ("/Producer", "pdf:Producer"),
             ("/CreationDate", "xmp:CreateDate"), ("/ModDate", "xmp:ModifyDate"))
_FORBIDDEN_ACTIONS = frozenset({"/Launch", "/Sound", "/Movie", "/ResetForm", "/ImportData", "/JavaScript",
                                "/Hide", "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView"})


def pdfa3b_problems(data: bytes) -> list[str]:
    """What keeps ``data`` from being PDF/A-3b, by the ISO 19005-3 rules checked here.

    Checked (clause numbers of ISO 19005-3:2012): the header and its binary
    comment (6.1.2); a file identifier and no encryption (6.1.3); no stream
    refers to an external file or uses LZW (6.1.7.2); the metadata stream is
    unfiltered XMP (6.6.2.1) identifying part 3, conformance B (6.6.4) and
    equivalent to every Info entry it mirrors, dates to the same instant
    (6.6.3, as PDF/A-1 6.7.3 words it); a ``GTS_PDFA1`` output intent with an
    ICC profile (6.2.3); every font embedded (6.2.11.4.1) and every CIDSet
    naming exactly the CIDs its program holds (6.2.11.4.2, as veraPDF reads it:
    every CID below the program's glyph count); annotations printable and not
    hidden (6.3.2), no JavaScript or forbidden action (6.5.1, 6.6.1); and each
    embedded file with ``/F``, ``/UF``, ``/AFRelationship``, a MIME
    ``/Subtype`` and a modification date, referenced from ``/AF`` (6.8).

    Not checked here: content streams operator by operator (colour spaces,
    transparency groups), glyph widths against the font programs, XMP
    extension schemas. A full validator (veraPDF) does those.

    Args:
        data: the PDF bytes.

    Returns:
        One line per problem (empty if none).

    Raises:
        RenderError: if pypdf is not installed.
    """
    try:
        import pypdf
        from pypdf.generic import (
            ArrayObject,
            DictionaryObject,
            IndirectObject,
            StreamObject,
        )
    except ImportError as e:
        raise RenderError("checking PDF/A needs pypdf: pip install pypdf") from e
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    out: list[str] = []
    if not re.match(rb"%PDF-1\.[4-7]\r?\n%[\x80-\xff]{4}", data):
        out.append("6.1.2: the header is not '%PDF-1.n' followed by a comment of four bytes above 127")
    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    trailer = reader.trailer
    if "/ID" not in trailer:
        out.append("6.1.3: the trailer has no file identifier (/ID)")
    if "/Encrypt" in trailer:
        out.append("6.1.3: the file is encrypted")
    root = reader.trailer["/Root"]

    # Every object, once: stream keys, actions, annotations, fonts.
    seen: set[int] = set()
    objects: list[Any] = []

    def walk(obj: Any) -> None:
        stack = [obj]
        while stack:
            o = stack.pop()
            if isinstance(o, IndirectObject):
                if o.idnum in seen:
                    continue
                seen.add(o.idnum)
                o = o.get_object()
            if isinstance(o, DictionaryObject):
                objects.append(o)
                stack.extend(v for k, v in o.items() if k != "/Parent")
            elif isinstance(o, ArrayObject):
                stack.extend(o)

    walk(trailer.get("/Root"))
    walk(trailer.get("/Info"))
    for o in objects:
        if isinstance(o, StreamObject):
            for key in ("/F", "/FFilter", "/FDecodeParms"):
                if key in o and o.get("/Type") != "/EmbeddedFile":
                    out.append(f"6.1.7.2: a stream has the external-file key {key}")
            filters = o.get("/Filter")
            names = list(filters) if isinstance(filters, ArrayObject) else [filters]
            if "/LZWDecode" in names:
                out.append("6.1.7.2: a stream uses LZWDecode")
        if o.get("/S") in _FORBIDDEN_ACTIONS:
            out.append(f"6.6.1: an action of type {o['/S']}")
        if "/JS" in o or "/AA" in o:
            out.append("6.6.1: JavaScript or an additional-actions dictionary")
        if o.get("/Type") == "/Annot":
            flags = int(o.get("/F", 0))
            if not flags & 4 or flags & (1 | 2 | 32):
                out.append(f"6.3.2: an annotation ({o.get('/Subtype')}) is not printable, or is hidden (flags {flags})")
        if o.get("/Type") == "/Font" and o.get("/Subtype") in ("/TrueType", "/Type1", "/CIDFontType2", "/CIDFontType0"):
            out.extend(_font_problems(o))

    out.extend(_metadata_problems(root, reader))
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    if not any(i.get("/S") == "/GTS_PDFA1" and isinstance(i.get("/DestOutputProfile"), IndirectObject)
               for i in intents):
        out.append("6.2.3: no GTS_PDFA1 output intent with an embedded ICC profile")
    out.extend(_embedded_file_problems(root))
    return out


def _font_problems(font: Any) -> list[str]:
    from fontTools.ttLib import TTFont

    name = font.get("/BaseFont", "?")
    fd = font.get("/FontDescriptor")
    fd = fd.get_object() if fd is not None else None
    if fd is None:
        return [f"6.2.11.4.1: font {name} has no font descriptor"]
    program = fd.get("/FontFile2") or fd.get("/FontFile3") or fd.get("/FontFile")
    if program is None:
        return [f"6.2.11.4.1: font {name} is not embedded"]
    if font.get("/Subtype") != "/CIDFontType2" or "/CIDSet" not in fd:
        return []
    glyphs = TTFont(io.BytesIO(program.get_object().get_data()), lazy=True)["maxp"].numGlyphs
    bits = fd["/CIDSet"].get_object().get_data()
    listed = {i for i in range(len(bits) * 8) if bits[i // 8] & (0x80 >> (i % 8))}
    missing = sorted(set(range(1, glyphs)) - listed)
    extra = sorted(c for c in listed if c >= glyphs)
    if missing or extra:
        return [(f"6.2.11.4.2: font {name}: its CIDSet leaves out CIDs {missing[:5]} of its program's {glyphs} "
                f"glyphs, or names CIDs {extra[:5]} it does not hold")]
    return []


def _metadata_problems(root: Any, reader: Any) -> list[str]:
    import datetime as dt
    from xml.etree import ElementTree

    from pypdf.generic import StreamObject

    meta = root.get("/Metadata")
    meta = meta.get_object() if meta is not None else None
    if not isinstance(meta, StreamObject):
        return ["6.6.2.1: the catalog has no XMP metadata stream"]
    out = []
    if "/Filter" in meta:
        out.append(f"6.6.2.1: the metadata stream is filtered ({meta['/Filter']})")
    try:
        xml = ElementTree.fromstring(meta.get_data())
    except ElementTree.ParseError as e:
        return [*out, f"6.6.2.1: the XMP packet is not well-formed XML ({e})"]

    def values(prop: str) -> list[str]:
        prefix, local = prop.split(":")
        uri = _XMP_NS[prefix]
        found = [el.text or "" for el in xml.iter(f"{{{uri}}}{local}") if len(el) == 0]
        found += [li.text or "" for el in xml.iter(f"{{{uri}}}{local}") for li in el.iter(f"{{{_XMP_NS['rdf']}}}li")]
        found += [d.attrib[f"{{{uri}}}{local}"] for d in xml.iter(f"{{{_XMP_NS['rdf']}}}Description")
                  if f"{{{uri}}}{local}" in d.attrib]
        return found

    if values("pdfaid:part") != ["3"] or values("pdfaid:conformance") != ["B"]:
        out.append(f"6.6.4: the XMP identifies part {values('pdfaid:part')} conformance "
                   f"{values('pdfaid:conformance')}, not part 3 conformance B")

    def instant(text: str, *, pdf: bool) -> dt.datetime | None:
        if pdf:
            m = re.fullmatch(r"D:(\d{14})(Z|[+-]\d\d'\d\d'?)?(?:00'00')?", text)
            if not m:
                return None
            zone = m[2] if m[2] and m[2] != "Z" else "+00'00"
            return dt.datetime.strptime(m[1] + zone[:3] + zone[4:6], "%Y%m%d%H%M%S%z")
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            return None

    info = reader.trailer.get("/Info")
    info = info.get_object() if info is not None else {}
    for key, prop in _INFO_XMP:
        if key not in info:
            continue
        xmp = values(prop)
        if key.endswith("Date"):
            a, b = instant(str(info[key]), pdf=True), [instant(v, pdf=False) for v in xmp]
            same = a is not None and b == [a]
        else:
            same = xmp == [str(info[key])]
        if not same:
            out.append(f"6.6.3: Info {key} {str(info[key])!r} and XMP {prop} {xmp!r} differ")
    return out


def _embedded_file_problems(root: Any) -> list[str]:
    out = []
    names = root.get("/Names", {}).get("/EmbeddedFiles")
    specs = []
    if names is not None:
        listing = names.get_object().get("/Names", [])
        specs = [listing[i + 1] for i in range(0, len(listing), 2)]
    associated = {r.idnum for r in root.get("/AF", []) if hasattr(r, "idnum")}
    for ref in specs:
        spec = ref.get_object()
        what = spec.get("/UF") or spec.get("/F") or "?"
        for key in ("/F", "/UF", "/AFRelationship"):
            if key not in spec:
                out.append(f"6.8: the file specification of {what} has no {key}")
        stream = spec.get("/EF", {}).get("/F")
        stream = stream.get_object() if stream is not None else None
        if stream is None:
            out.append(f"6.8: {what} has no embedded file stream")
            continue
        if "/Subtype" not in stream:
            out.append(f"6.8: the embedded file {what} has no MIME type (/Subtype)")
        if "/ModDate" not in stream.get("/Params", {}):
            out.append(f"6.8: the embedded file {what} has no modification date")
        if getattr(ref, "idnum", None) not in associated:
            out.append(f"6.8: the embedded file {what} is not referenced from the catalog's /AF")
    af = [r.idnum for r in root.get("/AF", []) if hasattr(r, "idnum")]
    if len(af) != len(set(af)):
        out.append("6.8: the catalog's /AF names a file specification twice")
    return out
