"""A self-contained HTML report: figures (plotly {data, layout}), tables and short texts, with plotly.js inlined,
so the file opens anywhere, offline. Everything given is escaped: texts and table cells as HTML, figure JSON with
`<`, `>` and `&` as unicode escapes so it cannot close the script. Used by the web's Report button and by
`suanli report`; Markdown for the same sections (figures as their tables) too."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from suanli.schema import SuanliError

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2530}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde3ea}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #dde3ea;padding:3px 7px;
text-align:right}th{background:#f2f5f8}td:first-child,th:first-child{text-align:left}.meta{color:#5b6775}
.fig{height:420px}"""


@dataclass
class Section:
    title: str = ""
    figure: dict[str, Any] | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    text: str | None = None


@dataclass
class Doc:
    title: str
    sections: list[Section] = field(default_factory=list)
    url: str | None = None


def plotly_path() -> Path:
    """plotly.min.js bundled in the installed `plotly` Python package (found without importing it)."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise SuanliError("plotly: the `plotly` package is not installed; pip install 'suanli[web]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.exists():
        raise SuanliError(f"plotly: {path.name} is missing from the installed plotly package")
    return path


def _safe_json(obj) -> str:
    return (json.dumps(obj, separators=(",", ":"), default=str).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def _table(columns: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(doc: Doc) -> str:
    parts, figures = [], []
    for i, s in enumerate(doc.sections):
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.figure is not None:
            parts.append(f'<div class="fig" id="fig{i}"></div>')
            figures.append((f"fig{i}", {"data": s.figure.get("data", []), "layout": s.figure.get("layout", {})}))
        if s.columns:
            parts.append(_table(s.columns, s.rows or []))
    link = ""
    if doc.url:  # a link only to a web page: a javascript: or data: URL would run when clicked
        href = html.escape(doc.url) if urlsplit(doc.url.strip()).scheme.lower() in ("http", "https") else None
        link = (f'<p class="meta">View: <a href="{href}">{html.escape(doc.url)}</a></p>' if href else
                f'<p class="meta">View: {html.escape(doc.url)}</p>')
    plots = "\n".join(f"Plotly.newPlot('{fid}', FIGS['{fid}'].data, FIGS['{fid}'].layout, {{responsive: true}});"
                      for fid, _ in figures)
    figs_json = _safe_json({fid: f for fid, f in figures})
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>"
            f"<style>{STYLE}</style><script>{plotly_path().read_text(encoding='utf-8')}</script></head><body>"
            f"<h1>{html.escape(doc.title)}</h1><p class='meta'>suanli report, {stamp}. Predictions are formulas over "
            f"catalog figures with their sources; see the suanli docs for the model.</p>{link}{''.join(parts)}"
            f"<script>const FIGS = {figs_json};\n{plots}</script></body></html>")


def _md_cell(v: Any) -> str:
    return ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")


def markdown(doc: Doc) -> str:
    """The same sections as Markdown: texts and tables (a figure appears through the table beside it)."""
    out = [f"# {doc.title}", "", f"suanli report, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.", ""]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        if s.text:
            out += [s.text, ""]
        if s.columns:
            out.append("| " + " | ".join(_md_cell(c) for c in s.columns) + " |")
            out.append("|" + "---|" * len(s.columns))
            out += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in s.rows or []]
            out.append("")
    return "\n".join(out)
