"""A self-contained HTML report: the figures and tables a page sends, with plotly.js inlined.

The page posts what it shows (plotly figures as {data, layout}, tables as columns and rows, short texts); the
report embeds them as JSON in one file that opens anywhere, offline. Everything from the request is escaped:
texts and table cells as HTML, figure JSON with `<`, `>` and `&` as unicode escapes so it cannot close the script.
"""

from __future__ import annotations

import html
import json
import time
from urllib.parse import urlsplit

from suanli.web.schemas import ReportIn

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2530}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde3ea}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #dde3ea;padding:3px 7px;
text-align:right}th{background:#f2f5f8}td:first-child,th:first-child{text-align:left}.meta{color:#5b6775}
.fig{height:420px}"""


def _safe_json(obj) -> str:
    return (json.dumps(obj, separators=(",", ":"), default=str).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def _table(columns: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(req: ReportIn) -> str:
    from suanli.web.app import plotly_path

    parts, figures = [], []
    for i, s in enumerate(req.sections):
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.figure is not None:
            parts.append(f'<div class="fig" id="fig{i}"></div>')
            figures.append((f"fig{i}", {"data": s.figure.get("data", []), "layout": s.figure.get("layout", {})}))
        if s.columns:
            parts.append(_table(s.columns, s.rows or []))
    link = ""
    if req.url:  # a link only to a web page: a javascript: or data: URL would run when clicked
        href = html.escape(req.url) if urlsplit(req.url.strip()).scheme.lower() in ("http", "https") else None
        link = (f'<p class="meta">View: <a href="{href}">{html.escape(req.url)}</a></p>' if href else
                f'<p class="meta">View: {html.escape(req.url)}</p>')
    plots = "\n".join(f"Plotly.newPlot('{fid}', FIGS['{fid}'].data, FIGS['{fid}'].layout, {{responsive: true}});"
                      for fid, _ in figures)
    figs_json = _safe_json({fid: f for fid, f in figures})
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(req.title)}</title>"
            f"<style>{STYLE}</style><script>{plotly_path().read_text(encoding='utf-8')}</script></head><body>"
            f"<h1>{html.escape(req.title)}</h1><p class='meta'>suanli report, {stamp}. Predictions are formulas over "
            f"catalog figures with their sources; see the suanli docs for the model.</p>{link}{''.join(parts)}"
            f"<script>const FIGS = {figs_json};\n{plots}</script></body></html>")
