"""Inline SVG for the web view: coverage bars (the PDF's geometry, ``reports.model.coverage_chart``)
and small trend lines of a KPI over as-of samples. Pure functions: data in, shapes out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from reports.model import coverage_chart

__all__ = ["coverage_chart", "trend_chart"]


def trend_chart(points: list[tuple[dt.datetime, float | None]], *, top: float = 100.0,
                width: float = 320.0, height: float = 120.0) -> dict[str, Any]:
    """A polyline of ``points`` (value None: no data then, left out) on a 0..``top`` scale."""
    left, bottom, pad = 34.0, 20.0, 6.0
    inner_w, inner_h = width - left - pad, height - bottom - pad
    n = max(len(points) - 1, 1)
    span = points[-1][0] - points[0][0] if points else dt.timedelta(0)
    fmt = "%Y-%m-%d" if span >= dt.timedelta(days=2) else "%m-%d %H:%M"
    scale = top or 1.0
    dots = []
    for i, (at, v) in enumerate(points):
        if v is None:
            continue
        x = left + inner_w * i / n
        y = pad + inner_h * (1 - min(max(v, 0.0), scale) / scale)
        dots.append({"x": round(x, 1), "y": round(y, 1), "value": v, "at": at.strftime(fmt)})
    return {"width": width, "height": height, "left": left, "base": round(pad + inner_h, 1), "pad": pad,
            "right": round(left + inner_w, 1), "top_label": _fmt(top),
            "polyline": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots,
            "first": points[0][0].strftime(fmt) if points else "",
            "last": points[-1][0].strftime(fmt) if points else ""}


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
