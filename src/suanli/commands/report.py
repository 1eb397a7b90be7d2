"""`suanli report`: a self-contained HTML (or Markdown) document comparing systems for one model and workload."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.commands.common import EngineOpt, InputOpt, ModelOpt, OutputOpt, PrecisionOpt, out
from suanli.schema import SuanliError


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    model: ModelOpt,
    systems: Annotated[str, typer.Option("--systems", help="comma-separated system ids")],
    out_file: Annotated[str, typer.Option("--out", help="the document to write: FILE.html (self-contained, plots "
                                                        "included, opens offline) or FILE.md")],
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    precision: PrecisionOpt = "fp8",
    engine: EngineOpt = None,
    batch: Annotated[int | None, typer.Option(help="total concurrent sequences per system (default: the largest "
                                                   "that fits)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace --out if it exists")] = False,
) -> None:
    """One document for a decision: per system the best deployment, tok/s per chip and per user with intervals,
    their front over batch sizes, $/Mtok and J/token with assumptions, memory fit, export-control class, where the
    time goes, the engine assumed, held-out validation error of the class, and every source."""
    from suanli.report.decision import build
    from suanli.report.html import markdown, plotly_path, render
    from suanli.schema.files import output_path, write_atomic

    target = output_path(out_file, "report --out", force=force)  # before the work, not after
    if target.suffix.lower() not in (".html", ".htm", ".md"):
        raise SuanliError(f"out: {out_file!r}: the report is written as .html or .md")
    html = target.suffix.lower() != ".md"
    if html:
        plotly_path()  # plotly.js is inlined: the package must be there (pip install 'suanli[web]')
    names = [s.strip() for s in systems.split(",") if s.strip()]
    if not names:
        raise SuanliError("systems: give at least one system id")
    doc = build(model, names, input=input, output=output, precision=precision, engine=engine, batch=batch)
    write_atomic(target, render(doc) if html else markdown(doc))
    out.print(f"Report written to {target} ({len(doc.sections)} sections)")
