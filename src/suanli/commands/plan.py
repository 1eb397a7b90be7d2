"""`suanli plan`: the best deployment of a model on each candidate system for a load and an SLO, and its size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from suanli.commands.common import CalOpt, EngineOpt, InputOpt, JsonOpt, ModelOpt, OutputOpt, emit_json, out
from suanli.report.dynamo import BACKENDS
from suanli.schema import SuanliError


def register(app: typer.Typer) -> None:
    app.command()(plan)


def plan(
    model: ModelOpt,
    systems: Annotated[str, typer.Option("--systems", "-s", help="comma-separated system ids to plan on")],
    input: InputOpt = 1024,
    output: OutputOpt = 256,
    slo: Annotated[str | None, typer.Option(help="latency limits, e.g. ttft_p99=2s,tpot_p99=50ms (p50/p90/p99/mean "
                                                 "of ttft, tpot, e2e)")] = None,
    load: Annotated[str | None, typer.Option(help="load to size for: 20req/s, 5000req/min, '30 trillion tokens per "
                                                  "day', 30T tok/day, 1e6tok/s (tokens = prompt + output)")] = None,
    headroom: Annotated[float, typer.Option(help="spare capacity on top of the load (0.2 = 20%)")] = 0.2,
    objective: Annotated[str, typer.Option(help="throughput-per-chip, cost ($/Mtok), tokens-per-joule or chips "
                                                "(fewest for the load)")] = "throughput-per-chip",
    precision: Annotated[str | None, typer.Option("--precision", help="weight precisions to try, comma-separated "
                                                  "(default: what each chip runs natively: bf16, fp8 or int8, fp4)")
                         ] = None,
    kv_precision: Annotated[str | None, typer.Option("--kv-precision", help="KV-cache precisions to try (default: "
                                                     "bf16 and the chip's 8-bit type)")] = None,
    engine: EngineOpt = None,
    calibration: CalOpt = None,
    max_chips: Annotated[int | None, typer.Option("--max-chips", help="largest deployment unit to try, chips "
                                                  "(default: one unit of the system, 64 where units are networked)")
                         ] = None,
    disaggregate: Annotated[bool, typer.Option("--disaggregate/--no-disaggregate", help="also try separate prefill "
                                               "and decode instances")] = True,
    confirm: Annotated[int, typer.Option(help="best structures per system to confirm with the serving simulator "
                                              "(0: analytic only)")] = 3,
    runners_up: Annotated[int, typer.Option("--runners-up", help="runners-up to show per system")] = 3,
    price: Annotated[list[str] | None, typer.Option("--price", help="chip price for the cost objective, CHIP=USD "
                                                    "(repeat or comma-separate)")] = None,
    pareto: Annotated[str | None, typer.Option(help="write the Pareto fronts (tok/s per chip against tok/s per "
                                                    "user) to FILE.html (plotly) or FILE.png (matplotlib)")] = None,
    ray: Annotated[str | None, typer.Option(help="run the sweep on Ray: auto (the running cluster, else a local "
                                                 "one), local, or an address such as ray://head:10001")] = None,
    workers: Annotated[int | None, typer.Option(help="processes of the local pool (default: one per core; 1 runs "
                                                     "in this process)")] = None,
    confidence: Annotated[float | None, typer.Option(help="size so the SLOs hold and the load is carried at this "
                                                        "confidence (0.5 to 0.9), on the pessimistic side of the "
                                                        "prediction intervals; default: on the predictions")] = None,
    emit: Annotated[str | None, typer.Option("--emit", help="write the chosen deployment's launch files for this "
                                             "engine (vllm, vllm-ascend, sglang, trt-llm, llama.cpp, mindie) into "
                                             "--out; plans for that engine: vllm, sglang and trt-llm plans may be "
                                             "disaggregated or span nodes (a Dynamo graph), the others are "
                                             "colocated on one node")] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="folder for --emit's launch files")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar on stderr (none is shown when stderr is "
                                                        "not a terminal)")] = False,
    force: Annotated[bool, typer.Option(help="run confirmations estimated at more than 300 s of simulation")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Search layouts (TP/PP/EP/DP), precisions, batch limits and prefill:decode splits on each system; confirm the
    best with the serving simulator; size the winner for the load (chips, nodes) and say why the runners-up lost."""
    from suanli.econ.report import parse_prices
    from suanli.plan import plan as run
    from suanli.plan.pareto import plot_path, write_plot
    from suanli.report.progress import progress
    from suanli.serve.api import WORK_LIMIT_S

    if pareto:
        plot_path(pareto)  # before the search, not after
    if emit:  # checked before the search, not after: the engine, the folder, the plan made for that engine
        from suanli.report.launch import check_emit

        key = check_emit(emit)
        if not out_dir:
            raise SuanliError("emit: give --out DIR for the launch files")
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise SuanliError(f"out: {out_dir!r} is a file, not a folder")
        if engine and engine.split("==")[0].strip().lower() != key:
            raise SuanliError(f"emit: {key} launch files for a plan made for {engine!r}: plan with --engine {key} "
                              "(or leave --engine out)")
        engine = engine or emit.strip()
        disaggregate = disaggregate and key in BACKENDS  # written as Dynamo graphs of their workers
        one_node = key not in BACKENDS  # the others' launch files start one server on one node
    elif out_dir:
        raise SuanliError("out: --out is the folder for --emit's launch files; give --emit ENGINE too")
    else:
        one_node = False
    result = run(model, systems, input=input, output=output, slo=slo, load=load, headroom=headroom,
                 objective=objective, precision=precision, kv_precision=kv_precision, engine=engine,
                 calibration=calibration, max_chips=max_chips, disaggregate=disaggregate, confirm=confirm,
                 runners_up=runners_up, prices=parse_prices(price), workers=workers, ray=ray,
                 executor="serial" if workers == 1 else "pool", confidence=confidence,
                 progress=None if quiet else progress, max_work_s=float("inf") if force else WORK_LIMIT_S,
                 one_node=one_node)
    written = write_plot(result, pareto) if pareto else None
    launch = None
    if emit and any(s["best"] for s in result["systems"]):
        from suanli.catalog import catalog
        from suanli.report.launch import emit as write_launch

        launch = write_launch(emit, result, out_dir, catalog().model(model).source if not Path(model).exists()
                              else "")
    if as_json:
        emit_json(result)
    else:
        render(result)
        if written:
            out.print(f"Pareto fronts written to {written}")
        if launch:
            out.print("Launch files for the first system's plan: " + ", ".join(str(p) for p in launch))
    if not any(s["best"] for s in result["systems"]):
        raise SuanliError("no system can serve this: " + " | ".join(
            f"{s['system']}: {s['infeasible_reason']}" for s in result["systems"]))


def _n(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "?"
    return f"{x:,.{digits}f}"


def render(r: dict) -> None:
    slo = ", ".join(f"{k}={v:g} ms" for k, v in r["slo_ms"].items()) or "none"
    load = r["load"]["described"] if r["load"] else "none (one unit sized)"
    out.print(f"[bold]{r['model']}[/], input {r['input']}, output {r['output']}; SLO {slo}; load {load}; headroom "
              f"{100 * r['headroom']:.0f}%; objective {r['objective']}")
    out.print("TTFT and TPOT are p99 in ms, throughput is output tok/s (per chip, per user), chips are for the "
              "load; source: sim = the serving simulator, analytic = the steady-state model")
    for s in r["systems"]:
        out.print()
        if not s["best"]:
            out.print(f"[bold]{s['system']}[/] ({s['chip']}): [red]no feasible deployment[/]: {s['infeasible_reason']}")
            continue
        t = Table(title=f"{s['system']} ({s['chip']}): best deployments", title_justify="left")
        left = ("", "layout", "w/kv", "serving", "source")
        for col in (*left[:4], "cap", "TTFT", "TPOT", "per chip", "per user", "chips", "source"):
            t.add_column(col, justify="left" if col in left else "right", no_wrap=col in left)
        for tag, c in [("plan", s["best"])] + [(f"#{i}", c) for i, c in enumerate(s["runners_up"], 2)]:
            lay = f"tp{c['tp']} pp{c['pp']}" + (f" ep{c['ep']}" if c["ep"] > 1 else "") + \
                (f" dp{c['dp']}" if c["dp"] > 1 else "")
            mode = f"P:D {c['prefill_decode_ratio']}" if c["disaggregated"] else "colocated"
            t.add_row(tag, lay, f"{c['precision']}/{c['kv_precision']}", mode, str(c["max_batch"]),
                      _n(c["ttft_p99_ms"]), _n(c["tpot_p99_ms"], 1), _n(c["output_tok_s_per_chip"]),
                      _n(c["tok_s_per_user"], 1), f"{c['chips_needed']:,}", "sim" if c["simulated"] else "analytic")
        out.print(t)
        b = s["best"]
        unit = f"{b['instances']} x {b['unit_chips']}-chip unit" + ("s" if b["instances"] > 1 else "")
        busy = f"; the fleet runs at {100 * b['fleet_utilization']:.0f}% of its capacity" if r["load"] else ""
        econ = []
        if b["usd_per_mtok"] is not None:
            econ.append(f"${b['usd_per_mtok']:.3f} per million tokens")
        if b["tokens_per_joule"] is not None:
            econ.append(f"{b['tokens_per_joule']:.2f} tokens/J")
        out.print(f"Plan: {b['label']}, batch cap {b['max_batch']}, token budget {b['token_budget']}; "
                  f"{_n(b['output_tok_s_per_chip'])} output tok/s per chip, {_n(b['tok_s_per_user'], 1)} tok/s per "
                  f"user; [bold]{b['chips_needed']:,} chips[/] ({unit}, {b['nodes_needed']:,} nodes){busy}"
                  + (f"; {', '.join(econ)}" if econ else ""))
        if b.get("confidence"):
            k = b["confidence"]
            m = ", ".join(f"{name} x{v:.2f}" for name, v in k["margins"].items())
            out.print(f"  at confidence {k['level']:g} (predicted figures times {m}): {k['extra_chips']:+,} chips "
                      f"against {k['chips_at_central_prediction']:,} on the central prediction")
        iv = b.get("intervals", {}).get("output_tok_s_per_chip")
        if iv:
            out.print(f"  output tok/s per chip, P10-P90: {_n(iv['p10'])}-{_n(iv['p90'])} ({iv['basis']})")
        if b["simulated"] and b["analytic"]:
            a = b["analytic"]
            out.print(f"  simulated (analytic: TTFT p99 {a['ttft_p99_ms']:.0f} ms, TPOT p99 {a['tpot_p99_ms']:.1f} "
                      f"ms, {a['output_tok_s_per_chip']:,.0f} tok/s/chip)")
        if b.get("limited_by"):
            out.print(f"  batch held by {b['limited_by']}")
        for i, c in enumerate(s["runners_up"], 2):
            out.print(f"  #{i} {c['label']} lost: {c['lost_because']}")
        for note in s["notes"]:
            out.print(f"  note: {note}")
        if s.get("engine"):
            from suanli.report.terminal import engine_line

            out.print(f"  engine: {engine_line(s['engine'])}")
    q = r["search"]
    out.print(f"\nSearched {q['candidates']:,} candidates in {q['sweep_s']:.1f} s "
              f"({_n(q['candidates_per_s'])}/s, {q['executor']}); {q['total_s']:.1f} s in all with the simulator. "
              "Analytic figures: steady-state model; simulated: suanli's serving simulator at the planned rate.")
