"""`suanli explore`: a design space of chips (and deployments) around a base chip, its Pareto front under
constraints."""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.commands.common import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    app.command()(explore)


def _ints(text: str | None, what: str) -> list[int]:
    from suanli.schema import SuanliError

    if not text:
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SuanliError(f"{what}: {text!r} is not a comma-separated list of whole numbers") from None


def explore(
    base: Annotated[str | None, typer.Option("--base", help="catalog chip the designs start from")] = None,
    vary: Annotated[list[str] | None, typer.Option("--vary", help="FIELD=LO:HI:STEPS[:log] or FIELD=A,B,C, the "
                                                   "names and units of `design --set` (memory.bandwidth=1TB/s:8TB/s"
                                                   ":100, compute.fp8=x0.5:x2:20, node=7,5,3); repeatable")] = None,
    space_file: Annotated[str | None, typer.Option("--space", help="YAML file with the same keys (base, vary, "
                                                   "models, chips, tp, batch, precision, input, output, engine)")]
    = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="model id(s), comma-separated")] = None,
    chips: Annotated[str | None, typer.Option(help="chips per deployment, comma-separated (default 8)")] = None,
    tp: Annotated[str | None, typer.Option(help="tensor parallel sizes to try (default: powers of two up to the "
                                                "chips); the rest of the chips are data-parallel replicas")] = None,
    batch: Annotated[str | None, typer.Option(help="sequences per replica, comma-separated (default 64)")] = None,
    precision: Annotated[str | None, typer.Option(help="weight precisions, comma-separated (default bf16)")] = None,
    engine: Annotated[str | None, typer.Option(help="serving engine (default: the tuned stack for the chip)")] = None,
    input: Annotated[int, typer.Option("--input", help="prompt tokens per request")] = 2048,
    output: Annotated[int, typer.Option("--output", help="generated tokens per request")] = 256,
    where: Annotated[str | None, typer.Option(help="constraints, e.g. \"tpp<4800 and pd<5.92\", \"tpot<50ms\" "
                                                   "(fields: --fields)")] = None,
    objectives: Annotated[str, typer.Option(help="Pareto objectives, field:max|min, comma-separated")]
    = "tok_s_per_chip:max,tok_s_per_user:max",
    top: Annotated[int, typer.Option(help="front points shown in the table")] = 15,
    out_file: Annotated[str | None, typer.Option("--out", help="write every point to FILE.csv or FILE.parquet")]
    = None,
    plot: Annotated[str | None, typer.Option(help="write an interactive plot of the front to FILE.html")] = None,
    force: Annotated[bool, typer.Option(help="replace --out / --plot files that exist")] = False,
    ray: Annotated[str | None, typer.Option(help="run the chunks on Ray: local (a local instance), auto or an "
                                                 "address")] = None,
    fields: Annotated[bool, typer.Option("--fields", help="list the fields --where and --objectives take")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sweep chip figures (compute, bandwidth, capacity, TDP, links, die area, node, price) around a base chip, for
    deployments of one or more models: each point gets throughput per chip and per user, TTFT/TPOT, memory fit,
    $/Mtok, J/token, die cost and yield, TPP, PD and its 3A090 class; prints the Pareto front of the points that
    fit and meet --where. Vectorised: about a million points a minute on two cores (benchmarks/bench_explore.py)."""
    from suanli.explore.output import PointWriter, write_plot
    from suanli.explore.run import explore as run
    from suanli.explore.select import FIELDS
    from suanli.explore.space import from_options
    from suanli.report.progress import progress
    from suanli.schema import SuanliError
    from suanli.schema.files import output_path

    if fields:
        for name, (unit, what) in FIELDS.items():
            out.print(f"{name:16s} {unit:6s} {what}")
        return
    if not 1 <= top <= 10_000:
        raise SuanliError(f"top: {top} is not allowed; give 1 to 10,000")
    space = from_options(base or "", vary or [], models=[m for m in (model or "").split(",") if m.strip()],
                         chips=_ints(chips, "chips"), tp=_ints(tp, "tp") or None, batch=_ints(batch, "batch"),
                         precision=[p for p in (precision or "").split(",") if p.strip()], input=input,
                         output=output, engine=engine, file=space_file)
    target = output_path(out_file, "explore --out", force=force) if out_file else None
    plot_path = output_path(plot, "explore --plot", force=force) if plot else None
    if plot_path and plot_path.suffix.lower() not in (".html", ".htm"):
        raise SuanliError(f"plot: {plot!r}: the plot is written as .html")
    from importlib.util import find_spec

    if plot_path and find_spec("plotly") is None:  # before the work, not after it
        raise SuanliError("plot: plotly is not installed; pip install 'suanli[plot]'")
    if ray and find_spec("ray") is None:
        raise SuanliError("ray: Ray is not installed; pip install 'suanli[ray]' (or drop --ray)")
    writer = PointWriter(target) if target else None
    sample: dict[str, list] = {}
    from suanli.explore.run import CHUNK, structures_of

    chunks = len(structures_of(space)) * -(-space.grid_points // CHUNK)
    try:
        with progress("exploring", chunks, quiet or as_json) as tick:
            def seen(res: dict) -> None:
                tick(1)
                for k, v in res["sample"].items():
                    sample.setdefault(k, []).extend(v)
                if writer:
                    writer.add(res["all"])

            result = run(space, where=where, goals=objectives, ray=ray, on_chunk=seen, keep_all=writer is not None)
    except BaseException:
        if writer:
            writer.close(keep=False)
        raise
    if writer:
        writer.close()
        result["out"] = {"path": str(target), "rows": writer.rows}
    if plot_path:
        write_plot(plot_path, result, sample)
        result["plot"] = str(plot_path)
    if as_json:
        emit_json(result)
        return
    _table(result, top)


LABELS = {"compute_scale": "compute x", "memory.bandwidth_gb_s": "mem GB/s", "memory.capacity_gb": "mem GB",
          "tdp_w": "TDP W", "price_usd": "price $", "die_area_mm2": "die mm2", "node_nm": "node nm",
          "tok_s_per_chip": "tok/s/chip", "tok_s_per_user": "tok/s/user", "usd_per_mtok": "$/Mtok",
          "j_per_token": "J/tok", "class_2023": "3A090 2023", "output_tok_s": "tok/s", "power_kw": "kW"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:,.4g}"
    return "-" if v is None else str(v)


def _label(field: str) -> str:
    if field in LABELS:
        return LABELS[field]
    if field.startswith(("matrix_tflops.", "vector_tflops.")):
        return f"{field.split('.')[1]} TFLOPS"
    if field.endswith(".bandwidth_gb_s"):
        return f"{field.split('.')[0]} GB/s"
    return field


def _table(r: dict, top: int) -> None:
    import sys

    from rich.table import Table

    where = f" {r['where']!r}" if r["where"] else ""
    out.print(f"[bold]{r['base']}[/]: {r['points']:,} design points ({r['structures']} deployments), "
              f"{r['fits']:,} fit, {r['feasible']:,} meet the constraints{where}")
    sys.stderr.write(f"explored in {r['wall_s']:.2f} s ({r['points_per_s']:,.0f} points/s)\n")  # timings apart
    from suanli.explore.select import Where

    goals = [o["field"] for o in r["objectives"]]
    wanted = [*r["varied"], "model", "chips", "tp", "batch", *goals, *sorted(Where(r["where"]).names),
              "tpot_ms", "ttft_ms", "usd_per_mtok", "tpp", "pd", "class_2023"]
    cols = list(dict.fromkeys(wanted))
    t = Table(title=f"Pareto front ({len(r['front'])} points; objectives {', '.join(goals)})")
    for c in cols:
        t.add_column(_label(c), justify="left" if c in ("model", "class_2023") else "right")
    for row in r["front"][:top]:
        t.add_row(*[_fmt(row.get(c)) for c in cols])
    out.print(t)
    for s in r["skipped"][:5]:
        out.print(f"  left out: {s}")
    if r.get("out"):
        out.print(f"wrote {r['out']['rows']:,} points to {r['out']['path']}")
    if r.get("plot"):
        out.print(f"wrote the plot to {r['plot']}")
