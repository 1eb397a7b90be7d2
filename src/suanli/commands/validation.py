"""`suanli validate` and `suanli calibrate --data`: predicted against measured, and fitting factors."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.commands.common import CalOpt, JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    app.command()(validate)


def validate(
    data: Annotated[str, typer.Option("--data", help="CSV of measurements in the ground-truth format (see "
                                                     "docs/validation.md)")],
    by: Annotated[str | None, typer.Option("--by", help="group the summary by these columns, comma-separated: "
                                                        "hardware, model, engine, source, scenario, metric")] = None,
    calibration: CalOpt = None,
    rows: Annotated[bool, typer.Option("--rows", help="also print every row (predicted, measured, error)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict every row of a measurement file from its setup alone and report the error (APE as a fraction)."""
    from suanli.perf.factors import load_calibration
    from suanli.spec import SuanliError
    from suanli.validate.run import validate as run

    keys = [k.strip() for k in by.split(",")] if by else []
    allowed = ("hardware", "model", "engine", "source", "scenario", "metric")
    for k in keys:
        if k not in allowed:
            raise SuanliError(f"by: {k!r} is not allowed; allowed: {', '.join(allowed)}")
    cal = load_calibration(calibration) if calibration else None
    result = run(data, keys, cal)
    if as_json:
        emit_json({"rows": [{k: r[k] for k in ("id", "metric", "measured", "predicted", "ape", "skipped_reason",
                                               "hardware", "model", "engine", "scenario", "assumptions")}
                            for r in result["rows"]],
                   "summary": result["summary"], "wall_s": result["wall_s"], "calibration": result["calibration"]})
        return
    render(result, keys, rows)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render(result: dict, keys: list[str], show_rows: bool) -> None:
    s = result["summary"]
    if show_rows:
        t = Table(title="Rows")
        for col in ("id", "hardware", "model", "metric", "measured", "predicted", "error"):
            t.add_column(col)
        for r in result["rows"]:
            err = f"{100 * r['signed']:+.1f}%" if r["predicted"] is not None else f"skipped: {r['skipped_reason']}"
            t.add_row(r["id"], r["hardware"], r["model"], r["metric"], f"{r['measured']:.4g}",
                      "-" if r["predicted"] is None else f"{r['predicted']:.4g}", err)
        out.print(t)
    t = Table(title=f"Predicted vs measured ({result['calibration']}), {result['wall_s']:.1f} s")
    for col in ("kind", "group", "rows", "predicted", "skipped", "MAPE", "median APE", "bias"):
        t.add_column(col, justify="left" if col in ("kind", "group") else "right")
    for kind, st in s["overall"].items():
        t.add_row(kind, "all", str(st["rows"]), str(st["predicted"]), str(st["skipped"]), _pct(st["mape"]),
                  _pct(st["median_ape"]), _pct(st["bias"]))
        for g, gs in s["groups"].get(kind, {}).items():
            t.add_row("", g, str(gs["rows"]), str(gs["predicted"]), str(gs["skipped"]), _pct(gs["mape"]),
                      _pct(gs["median_ape"]), _pct(gs["bias"]))
    out.print(t)
    for kind, worst in s["worst"].items():
        if worst:
            out.print(f"Worst {kind} rows: " + "; ".join(
                f"{w['id']} {w['hardware']} {w['model']} {w['metric']} {w['measured']:.4g} vs {w['predicted']:.4g}"
                for w in worst[:5]))
    if s["skipped_reasons"]:
        out.print("Skipped: " + "; ".join(f"{n} x {reason}" for reason, n in list(s["skipped_reasons"].items())[:8]))
