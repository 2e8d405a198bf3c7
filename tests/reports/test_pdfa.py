"""audit.pdf is PDF/A-3b: checked by Apache PDFBox Preflight and by our own ISO 19005-3 checks.

Validator. No registry this project reaches (PyPI, Debian, npm) ships veraPDF
or another PDF/A-2/3 validator that runs offline: PyPI's wrappers
(``pdfa-parser`` …) download veraPDF at run time. Debian ships Apache PDFBox
Preflight 2.0.27 (``libpdfbox2-java``), a PDF/A-1b validator: fonts (embedding,
widths, CIDSet), XMP (well-formed, schemas, Info equivalence), syntax, colour,
annotations, actions. PDF/A-3 relaxed four of its rules, and those four
findings, named below, are the only ones allowed; any other fails the test.
``make test`` installs it (``scripts/pdfa-validator.sh``); without it that
test is skipped, saying how to install it. What Preflight does not know about
PDF/A-3 (part 3, associated files) :func:`reports.pdfcheck.pdfa3b_problems` checks.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports.pdfcheck import pdfa3b_problems
from reports.render import cid_set, html_to_pdf, xmp_date
from tests.reports.conftest import AS_OF, unzip

JARS = Path("/usr/share/java")
PREFLIGHT_CLASSPATH = [JARS / f"{n}.jar" for n in (
    "preflight", "pdfbox2", "fontbox2", "xmpbox", "commons-logging", "javax.activation", "jaxb-api")]
#: Preflight findings that are PDF/A-1 rules ISO 19005-3 dropped: (code, words of the message).
PDFA1_ONLY = {
    ("1.4.7", "EmbeddedFile entry is present in the Names dictionary"),  # 19005-3 6.8 allows embedded files
    ("1.2.9", "EmbeddedFile entry is present in a FileSpecification dictionary"),  # likewise
    ("1.4", "/XRef cross reference streams are not allowed"),  # PDF 1.7 base: 19005-2/3 6.1.4 allow them
    ("7.11.2", "part must be 1"),  # the file says part 3
}


@pytest.fixture(scope="module")
def audit_pdf(world) -> bytes:
    return unzip(world.package)["audit.pdf"]


def preflight(path: Path) -> list[tuple[str, str]]:
    """Run PDFBox Preflight (PDF/A-1b); its findings as (code, message)."""
    java = shutil.which("java")
    missing = [str(j) for j in PREFLIGHT_CLASSPATH if not j.exists()]
    if java is None or missing:
        pytest.skip("PDFBox Preflight is not installed: apt-get install default-jre-headless libpdfbox2-java "
                    f"libactivation-java libjaxb-api-java (or run 'make test'); missing {missing or 'java'}")
    cp = ":".join(str(j) for j in PREFLIGHT_CLASSPATH)
    run = subprocess.run([java, "-cp", cp, "org.apache.pdfbox.preflight.Validator_A1b", str(path)],
                         capture_output=True, text=True, timeout=120, check=False)
    out = run.stdout + run.stderr
    if "is a valid PDF/A-1b file" in out:
        return []
    findings = re.findall(r"^(\d+(?:\.\d+)*) : (.*)$", out, re.MULTILINE)
    assert findings, f"Preflight said neither valid nor why:\n{out}"
    return findings


@pytest.mark.pdf
def test_preflight_finds_nothing_but_the_rules_pdfa3_dropped(audit_pdf, tmp_path) -> None:
    path = tmp_path / "audit.pdf"
    path.write_bytes(audit_pdf)
    findings = preflight(path)
    unexpected = [f"{code} : {msg}" for code, msg in findings
                  if not any(code == c and words in msg for c, words in PDFA1_ONLY)]
    assert unexpected == []


@pytest.mark.pdf
def test_the_iso_19005_3_rules_we_check_hold(audit_pdf) -> None:
    assert pdfa3b_problems(audit_pdf) == []


@pytest.mark.pdf
def test_metadata_is_uncompressed_and_dates_agree_to_the_second(audit_pdf) -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(audit_pdf))
    meta = reader.trailer["/Root"]["/Metadata"].get_object()
    assert "/Filter" not in meta
    raw = audit_pdf[audit_pdf.index(b"<?xpacket begin"):]
    assert b"<pdfaid:part>3</pdfaid:part>" in raw and b"<pdfaid:conformance>B</pdfaid:conformance>" in raw
    stamp = AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert reader.metadata["/CreationDate"] == reader.metadata["/ModDate"] == "D:" + AS_OF.strftime("%Y%m%d%H%M%SZ")
    assert f"<xmp:CreateDate>{stamp}</xmp:CreateDate>".encode() in raw
    assert f"<xmp:ModifyDate>{stamp}</xmp:ModifyDate>".encode() in raw
    # The title states the as-of time to the second too.
    assert reader.metadata["/Title"] == f"Audit package: credit-scoring as of {stamp}"


@pytest.mark.pdf
def test_every_cid_font_has_a_complete_cidset(audit_pdf) -> None:
    pypdf = pytest.importorskip("pypdf")
    from fontTools.ttLib import TTFont

    reader = pypdf.PdfReader(io.BytesIO(audit_pdf))
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            fonts[descendant["/BaseFont"]] = descendant["/FontDescriptor"].get_object()
    assert len(fonts) >= 3  # sans, bold, mono at least
    for name, fd in fonts.items():
        glyphs = TTFont(io.BytesIO(fd["/FontFile2"].get_object().get_data()))["maxp"].numGlyphs
        assert fd["/CIDSet"].get_object().get_data() == cid_set(glyphs), name


@pytest.mark.pdf
def test_weasyprint_alone_is_not_pdfa3b_and_the_checks_say_why() -> None:
    """The checks are not vacuous: WeasyPrint's own PDF/A-3b output (no finisher)
    compresses the XMP, writes fractional XMP dates and lists the attachment twice."""
    weasyprint = pytest.importorskip("weasyprint")
    html = ("<html lang=en><head><title>t</title><meta name=dcterms.created content='2026-01-02T03:04:05.5Z'>"
            "</head><body>x</body></html>")
    plain = weasyprint.HTML(string=html).render().write_pdf(
        pdf_variant="pdf/a-3b", attachments=[weasyprint.Attachment(string="{}", name="a.json")])
    problems = pdfa3b_problems(plain)
    assert any(p.startswith("6.6.2.1: the metadata stream is filtered") for p in problems)
    assert any(p.startswith("6.6.3: Info /CreationDate") for p in problems)
    assert "6.8: the catalog's /AF names a file specification twice" in problems
    ours = html_to_pdf(html, created=dt.datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC))
    assert pdfa3b_problems(ours) == []


def test_cid_set_and_xmp_date() -> None:
    assert cid_set(0) == b""
    assert cid_set(8) == b"\xff"
    assert cid_set(10) == b"\xff\xc0"
    assert xmp_date("D:20261101090000Z") == "2026-11-01T09:00:00Z"
    assert xmp_date("D:20261101090000+02'00'") == "2026-11-01T09:00:00+02:00"
