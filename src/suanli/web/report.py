"""The web's Report button: the figures and tables a page sends, as one self-contained HTML file
(`suanli.report.html`, the same renderer as `suanli report`)."""

from __future__ import annotations

from suanli.report.html import Doc, Section
from suanli.report.html import render as render_doc
from suanli.web.schemas import ReportIn


def render(req: ReportIn) -> str:
    return render_doc(Doc(req.title, [Section(s.title, s.figure, s.columns, s.rows, s.text) for s in req.sections],
                          req.url))
