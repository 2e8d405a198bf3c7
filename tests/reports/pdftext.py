"""Read a PDF as a reader sees it: each page's lines, and each character's box and colour.

PDFium (pypdfium2) gives every character's glyph box in points (origin at the
bottom left), its fill colour, and the page's text in reading order with line
breaks where the layout broke lines, so tests can check what is on which line,
where it is drawn and in which colour.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

MM = 72 / 25.4
CSS = Path(__file__).resolve().parents[2] / "reports" / "templates" / "print.css"


@dataclass(frozen=True)
class Char:
    """One drawn character: its text, glyph box (points), advance box (left and right
    of its advance width: where the next character may start) and fill colour (r, g, b)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float
    origin_y: float
    colour: tuple[int, int, int]
    advance_left: float
    advance_right: float
    size: float


@dataclass(frozen=True)
class Page:
    """One page: its size, its characters and its text lines."""

    number: int
    width: float
    height: float
    chars: list[Char]
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def read_pages(pdf: bytes) -> list[Page]:
    """Every page of ``pdf`` (needs pypdfium2, from the ``test`` extras)."""
    pdfium = pytest.importorskip("pypdfium2")
    raw = pytest.importorskip("pypdfium2.raw")
    doc = pdfium.PdfDocument(pdf)
    out = []
    for i in range(len(doc)):
        page = doc[i]
        width, height = page.get_size()
        tp = page.get_textpage()
        chars = []
        r, g, b, a = (ctypes.c_uint() for _ in range(4))
        x, y = ctypes.c_double(), ctypes.c_double()
        loose = raw.FS_RECTF()
        for c in range(tp.count_chars()):
            text = tp.get_text_range(c, 1).replace("\ufffe", "-")
            if not text or text.isspace():
                continue
            left, bottom, right, top = tp.get_charbox(c)
            if right - left <= 0 and top - bottom <= 0:
                continue  # generated characters (line breaks) have no box
            raw.FPDFText_GetFillColor(tp.raw, c, r, g, b, a)
            raw.FPDFText_GetCharOrigin(tp.raw, c, x, y)
            raw.FPDFText_GetLooseCharBox(tp.raw, c, loose)
            chars.append(Char(text, left, bottom, right, top, y.value, (r.value, g.value, b.value),
                              loose.left, loose.right, raw.FPDFText_GetFontSize(tp.raw, c)))
        # PDFium joins a word broken after a hyphen at a line's end and marks the
        # hyphen U+FFFE: split it again, so a broken identifier shows as broken.
        lines = tp.get_text_range().replace("\ufffe", "-\n").replace("\r\n", "\n").split("\n")
        out.append(Page(i + 1, width, height, chars, lines))
    return out


def page_margins() -> tuple[float, float, float, float]:
    """The page margins print.css sets (top, right, bottom, left), in points."""
    m = re.search(r"margin:\s*([\d.]+)mm\s+([\d.]+)mm\s+([\d.]+)mm\s+([\d.]+)mm", CSS.read_text())
    assert m, "print.css sets no @page margin in mm"
    top, right, bottom, left = (float(v) * MM for v in m.groups())
    return top, right, bottom, left
