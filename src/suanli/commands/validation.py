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
                                                     "docs/validation.md), or a bundled set: public, serving, "
                                                     "edge, ops")],
    by: Annotated[str | None, typer.Option("--by", help="group the summary by these columns, comma-separated: "
                                                        "hardware, model, engine, source, scenario, metric")] = None,
    calibration: CalOpt = None,
    rows: Annotated[bool, typer.Option("--rows", help="also print every row (predicted, measured, error)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (none is shown with --json or when "
                                                        "stderr is not a terminal)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict every row of a measurement file from its setup alone and report the error (APE as a fraction)."""
    from suanli.perf.factors import load_calibration
    from suanli.schema import SuanliError
    from suanli.validate.run import validate as run

    keys = [k.strip() for k in by.split(",")] if by else []
    allowed = ("hardware", "model", "engine", "source", "scenario", "metric")
    for k in keys:
        if k not in allowed:
            raise SuanliError(f"by: {k!r} is not allowed; allowed: {', '.join(allowed)}")
    cal = load_calibration(calibration) if calibration else None
    from suanli.report.progress import progress
    from suanli.validate.bundled import data_path

    result = run(data_path(data), keys, cal, progress=None if quiet or as_json else progress)
    if as_json:
        emit_json({"rows": [{k: r[k] for k in ("id", "metric", "measured", "predicted", "p10", "p90", "ape",
                                               "skipped_reason", "hardware", "model", "engine", "scenario",
                                               "assumptions")}
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
    for col in ("kind", "group", "rows", "predicted", "skipped", "MAPE", "median APE", "bias", "in P10-P90",
                "band width"):
        t.add_column(col, justify="left" if col in ("kind", "group") else "right")
    for kind, st in s["overall"].items():
        for g, gs in [("all", st), *s["groups"].get(kind, {}).items()]:
            t.add_row(kind if g == "all" else "", g, str(gs["rows"]), str(gs["predicted"]), str(gs["skipped"]),
                      _pct(gs["mape"]), _pct(gs["median_ape"]), _pct(gs["bias"]), _pct(gs["coverage"]),
                      _pct(gs["median_width"]))
    out.print(t)
    out.print("in P10-P90: share of measured values inside the prediction's interval band; band width: its median "
              "(P90 - P10) / predicted. The bundled bands were drawn from the held-out errors of the bundled data, "
              "so on those files this is their own fit; `suanli calibrate --loso` reports it per source held out.")
    for kind, worst in s["worst"].items():
        if worst:
            out.print(f"Worst {kind} rows: " + "; ".join(
                f"{w['id']} {w['hardware']} {w['model']} {w['metric']} {w['measured']:.4g} vs {w['predicted']:.4g}"
                for w in worst[:5]))
    if s["skipped_reasons"]:
        out.print("Skipped: " + "; ".join(f"{n} x {reason}" for reason, n in list(s["skipped_reasons"].items())[:8]))


def calibrate_data(data: str, out: str | None, as_json: bool = False, loso: bool = False,  # noqa: C901
                   force: bool = False) -> None:
    """`suanli calibrate --data FILE --out calib.yaml`: fit the factors on published measurements (from the priors
    of the bundled file), print the fit error per family and, with --loso, the leave-one-source-out error."""
    import math
    import os
    import statistics
    import time
    from dataclasses import replace
    from pathlib import Path

    import yaml

    from suanli.perf.factors import bundled_calibration
    from suanli.perf.intervals import build_table
    from suanli.schema import SuanliError
    from suanli.schema.files import output_path, write_atomic
    from suanli.validate.data import load_rows
    from suanli.validate.exchange import EXCHANGE_FILE
    from suanli.validate.first_token import fit_first_token
    from suanli.validate.first_token import leave_one_source_out as latency_loso
    from suanli.validate.fit import fit, to_yaml
    from suanli.validate.intervals import (
        coverage,
        coverage_doubly_nested,
        fit_levels,
        held_out,
        held_path,
        read_held,
        samples,
        write_held,
    )
    from suanli.validate.moe_floor import fit_moe_floor
    from suanli.validate.ops import best_gemm_fractions, is_ops_file, measured_factors
    from suanli.validate.run import predict_rows

    console = globals()["out"]
    out_path = out
    if not out_path:
        raise SuanliError("calibrate --data: give --out FILE for the fitted calibration (e.g. --out calib.yaml)")
    output_path(out_path, "calibrate --out", force=force)  # before minutes of fitting, not after
    if loso:
        output_path(held_path(out_path), "calibrate --out (its held-out residuals)", force=force)
    t0 = time.perf_counter()
    from suanli.validate.bundled import data_path

    paths = [data_path(p.strip(), "calibrate --data") for p in data.split(",") if p.strip()]
    ops_paths = [p for p in paths if is_ops_file(p)]
    rows = [r for p in paths if p not in ops_paths for r in load_rows(p)]
    if not rows:
        raise SuanliError("calibrate --data: no end-to-end measurement file given (only micro-benchmarks); "
                          "give at least one file in the public.csv format")
    prior = bundled_calibration().prior()
    # the project's own transcribed micro-benchmarks first (the expert exchange), then the files given
    measured: dict[str, dict[str, float]] = measured_factors(EXCHANGE_FILE)
    for p in ops_paths:
        for fam, values in measured_factors(p).items():
            measured.setdefault(fam, {}).update(values)
    if measured:  # micro-benchmarks set physical factors before the end-to-end fit
        phys = {fam: dict(v) for fam, v in prior.physical.items()}
        for fam, values in measured.items():
            phys.setdefault(fam, {}).update(values)
        prior = replace(prior, physical=phys)
        # a tile pipeline's cost and how its kernels overlap compute with memory: measured where GEMMs were swept,
        # the prior of every chip with matrix tiles; CPUs (vector units, no tile to fill and drain) keep none
        for key in ("gemm_k0", "roofline_n"):
            vals = [v[key] for v in measured.values() if key in v]
            if not vals:
                continue
            prior = replace(prior, defaults={**prior.defaults, key: statistics.median(vals)})
            for v in phys.values():
                if v.get("gemm_tile_m", prior.defaults.get("gemm_tile_m", 64.0)) <= 1 and key not in v:
                    v[key] = 0.0
    best: dict[str, float] = {}
    for p in ops_paths:  # best-shape GEMM searches: priors for families no tuned stack's rows fit
        best.update(best_gemm_fractions(p, prior.defaults.get("gemm_k0", 0.0)))
    result = fit(rows, prior, best=best)
    # engines' MoE chains on low-load MoE TPOT rows, then their front ends on low-load TTFT rows; a chain adds to the
    # expert GEMMs at every load, so the throughput fit is redone with the chains in place and they are refitted on it
    floor, _, _ = fit_moe_floor(rows, result.calibration)
    result = fit(rows, replace(prior, moe_floor=floor), best=best)
    floor, floor_report, curves = fit_moe_floor(rows, result.calibration)
    result.calibration = replace(result.calibration, moe_floor=floor)
    first, first_report = fit_first_token(rows, result.calibration)
    result.calibration = replace(result.calibration, first_token=first)
    names = ",".join(Path(p).name for p in paths)
    text = to_yaml(prior, result, f"fitted by `suanli calibrate --data {names}` on its throughput rows "
                                  "(moe_floor: its low-load MoE TPOT rows; first_token: its low-load TTFT rows)")
    from suanli.perf.factors import load_calibration
    from suanli.validate.fit import fittable

    # written beside the target, read back and checked, then renamed over it: a failed fit or write leaves the
    # old file whole, and nothing is written when no row could be fitted
    target = output_path(out_path, "calibrate --out", force=force)
    trial = target.with_name(f".{target.name}.fitting")
    try:
        write_atomic(trial, text)
        fitted = load_calibration(str(trial))
        thr = [r for r in rows if fittable(r)]
        fit_recs = predict_rows(thr, fitted)
        fit_err = _mape(fit_recs)
        if fit_err is None or not math.isfinite(fit_err):
            raise SuanliError("calibrate --data: no throughput row could be predicted (every one was skipped); "
                              "nothing written")
        os.replace(trial, target)
    finally:
        trial.unlink(missing_ok=True)
    fitted = load_calibration(out_path)
    every = [r for r in rows if r.kind == "throughput"]  # the fitted rows and those validated only
    every_recs = fit_recs + predict_rows([r for r in every if not fittable(r)], fitted)
    report = {"file": out_path, "rows": len(rows), "throughput_rows": len(thr), "fit_mape": fit_err,
              "all_throughput_rows": len(every), "all_throughput_mape": _mape(every_recs),
              "skipped": _skipped(fit_recs), "measured": measured, "first_token": first_report,
              "moe_floor": floor_report,
              "families": [{"family": f.family, "rows": f.rows, "mean_abs_log_error_before": f.error_before,
                            "mean_abs_log_error_after": f.error_after,
                            "moved": {k: [f.prior[k], f.fitted[k]] for k in f.fitted if f.fitted[k] != f.prior[k]}}
                           for f in result.families]}
    if loso:
        # every row predicted without its source: the throughput fit and the front ends refitted without it
        from suanli.report.progress import progress

        sources = len({r.source for r in rows if r.kind == "throughput"})
        with progress("refitting without each source", sources, as_json) as tick:
            held, per = held_out(rows, prior, fitted, best=best, tick=tick, floors=curves)
        report["loso"] = {src: {"rows": v["rows"], "mape": _mape(v["records"]), "skipped": _skipped(v["records"])}
                          for src, v in per.items()}
        allrec = [rec for v in per.values() for rec in v["records"]]
        report["loso_mape"] = _mape(allrec)
        lat = latency_loso(rows, fitted, curves)  # front ends and MoE floors refitted without each source
        report["latency_loso"] = {src: {"rows": v["rows"], "mape": _mape(v["records"]),
                                        "skipped": _skipped(v["records"])} for src, v in lat.items()}
        report["latency_loso_mape"] = _mape([rec for v in lat.values() for rec in v["records"]])
        report["latency_held_out_mape"] = _mape([r for r in held if r["kind"] == "latency"])
        # the residuals written beside the file and read back (the bands are rebuilt from exactly what is
        # shipped), the interval bands from them written into the file; their coverage scored nested (each
        # source's rows against bands drawn from the other sources only)
        write_held(held, held_path(target))
        shipped = read_held(held_path(target))
        levels = fit_levels(shipped)  # the tail level per metric at which held-out bands cover 80% of a source
        table = build_table(samples(shipped), levels)
        report["intervals"] = {"classes": len(table), "levels": levels, "coverage": coverage_doubly_nested(shipped),
                               "coverage_nested": coverage(shipped, levels=levels),
                               "coverage_in_sample": coverage(shipped, table)}
        write_atomic(target, text + yaml.safe_dump({"intervals": table}, sort_keys=True))
        load_calibration(str(target))
    report["wall_s"] = time.perf_counter() - t0
    if as_json:
        emit_json(report)
        return
    t = Table(title=f"Calibration fitted on {names} -> {out_path}")
    for col in ("family", "rows", "|log err| before", "after", "factors moved (prior -> fitted)"):
        t.add_column(col)
    for f in report["families"]:
        moved = ", ".join(f"{k} {a:g}->{b:g}" for k, (a, b) in f["moved"].items())
        t.add_row(f["family"], str(f["rows"]), f"{f['mean_abs_log_error_before']:.3f}",
                  f"{f['mean_abs_log_error_after']:.3f}", moved)
    console.print(t)
    benches = ", ".join(Path(p).name for p in (EXCHANGE_FILE, *ops_paths))
    for fam, values in measured.items():
        console.print(f"Measured by micro-benchmarks ({benches}): {fam} "
                      + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    console.print(f"Fit error (throughput MAPE on the fitted rows): {_pct(fit_err)} "
                  f"({report['skipped']} rows the model cannot predict, not counted); on every throughput row, "
                  f"server and interactive runs (validated, not fitted) included: "
                  f"{_pct(report['all_throughput_mape'])}")
    for key, v in floor_report.items():
        console.print(f"MoE floor of {key} ({v['rows']} low-load MoE TPOT rows): {v['moe_floor_us']:g} us per MoE "
                      f"layer; TPOT MAPE on them {_pct(v['mape_before'])} -> {_pct(v['mape_after'])}")
    for key, v in first_report.items():
        if "engine_request_ms" in v:
            console.print(f"Engine share of {key}'s first-token path ({v['in_process_rows']} low-load TTFT rows of "
                          f"in-process harnesses): {v['engine_request_ms']:g} ms; TTFT MAPE on them "
                          f"{_pct(v['in_process_mape_before'])} -> {_pct(v['in_process_mape_after'])}")
        if "request_ms" in v:
            console.print(f"Front end of {key} (first-token path, {v['rows']} low-load TTFT rows): request "
                          f"{v['request_ms']:g} ms + {v['prompt_host_us']:g} us per prompt token; TTFT MAPE on "
                          f"them {_pct(v['mape_before'])} -> {_pct(v['mape_after'])}")
    if loso:
        for src, v in report["loso"].items():
            console.print(f"  held out {src[:70]}: {v['rows']} rows ({v['skipped']} skipped), MAPE {_pct(v['mape'])}")
        console.print(f"Leave-one-source-out throughput MAPE: {_pct(report['loso_mape'])}")
        for src, v in report["latency_loso"].items():
            console.print(f"  latency, held out {src[:60]}: {v['rows']} rows ({v['skipped']} skipped), "
                          f"MAPE {_pct(v['mape'])}")
        console.print(f"Leave-one-source-out latency MAPE: {_pct(report['latency_loso_mape'])} (front ends and "
                      f"MoE floors held out); {_pct(report['latency_held_out_mape'])} with the chip factors held "
                      "out too")
        iv = report["intervals"]
        for metric, c in iv["coverage"].items():
            console.print(f"Interval [P10, P90] coverage, {metric}: {_pct(c['covered'])} of {c['rows']} held-out rows "
                          f"(bands and their level drawn without each row's source), median width "
                          f"{_pct(c['median_width'])} of the prediction")
        console.print(f"{iv['classes']} interval classes (tail levels {iv['levels']}) written to {out_path}; the "
                      f"residuals to {held_path(out_path).name}")


def _mape(recs: list[dict]) -> float | None:
    """Mean absolute percentage error over the rows the model could predict (the others are counted apart)."""
    apes = [r["ape"] for r in recs if r["predicted"] is not None]
    return sum(apes) / len(apes) if apes else None


def _skipped(recs: list[dict]) -> int:
    return sum(1 for r in recs if r["predicted"] is None)
