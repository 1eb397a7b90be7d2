"""Economics commands: `cost`, `ppa`, `silicon`, `policy`, `design` and `isoperf` (formulas in suanli.econ)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.commands.common import CalOpt, EngineOpt, JsonOpt, KvOpt, ModelOpt, PrecisionOpt, emit_json, out
from suanli.schema import SuanliError

InputOpt = Annotated[int, typer.Option("--input", help="prompt length, tokens per request")]
OutputOpt = Annotated[int, typer.Option("--output", help="generated tokens per request")]
BatchOpt = Annotated[int | None, typer.Option(help="concurrent sequences (default: the largest that fits)")]
TpotOpt = Annotated[float | None, typer.Option("--tpot-max", help="TPOT limit in ms: shrink the batch to meet it")]
ElecOpt = Annotated[float | None, typer.Option("--electricity", help="electricity price, USD per kWh")]
PueOpt = Annotated[float | None, typer.Option("--pue", help="power usage effectiveness of the facility (>= 1)")]
YearsOpt = Annotated[float | None, typer.Option("--years", help="amortisation period of the hardware, years")]
UtilOpt = Annotated[float | None, typer.Option("--utilization", help="share of hours spent serving, 0-1")]
FacOpt = Annotated[float | None, typer.Option("--facility", help="facility cost, USD per kW of IT power per month")]
PriceOpt = Annotated[list[str] | None, typer.Option("--price", help="chip price, CHIP=USD (repeat or comma-separate)")]
SysPriceOpt = Annotated[float | None, typer.Option("--system-price", help="price of one unit of the system, USD")]
ServerOpt = Annotated[float | None, typer.Option("--server-overhead", help="server cost beyond the chips, fraction "
                                                                           "of chip price")]
NetOpt = Annotated[float | None, typer.Option("--network-fraction", help="scale-out network, fraction of capex")]
TdpOpt = Annotated[float | None, typer.Option("--tdp", help="chip TDP, W (overrides the catalog)")]
IdleOpt = Annotated[float | None, typer.Option("--idle-w", help="chip idle power, W (overrides the catalog)")]
ChipsOpt = Annotated[int | None, typer.Option("--chips", help="chips to start from (default: one unit, or 8); "
                                                              "doubled until the model fits")]


def register(app: typer.Typer) -> None:
    for fn in (cost, ppa, silicon, policy, design, isoperf):
        app.command()(fn)


def _ask(model, input, output, batch, precision, kv_precision, engine, calibration, tpot_max=None, **layout):
    from suanli.econ.run import Ask

    return Ask(model, input, output, batch, precision, kv_precision, engine, calibration=calibration,
               tpot_max_ms=tpot_max, **layout)


def _knobs(electricity=None, pue=None, years=None, utilization=None, facility=None, price=None, system_price=None,
           server_overhead=None, network_fraction=None, tdp=None, idle_w=None):
    from suanli.econ.report import Knobs, parse_prices

    return Knobs(electricity, pue, years, utilization, facility, parse_prices(price), system_price, server_overhead,
                 network_fraction, tdp, idle_w)


def _f(x, digits: int = 2) -> str:
    if x is None:
        return "?"
    if isinstance(x, str):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.{digits}g}" if abs(x) < 0.01 else f"{x:.{digits}f}"


def _assumptions(a: dict, title: str = "Assumptions (value, source)") -> None:
    t = Table(title=title, show_lines=False)
    for col in ("figure", "value", "unit", "source"):
        t.add_column(col, overflow="fold")
    for name, f in a.items():
        t.add_row(name, _f(f["value"]), f["unit"], f["source"] + (f" ({f['note']})" if f.get("note") else ""))
    out.print(t)


def cost(
    model: ModelOpt,
    system: Annotated[str, typer.Option("--system", "-s", help="system id, '1x<chip>' or '<n>x<chip>'")],
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    batch: BatchOpt = None,
    tp: Annotated[int | None, typer.Option(help="tensor parallel size (default: the best layout)")] = None,
    pp: Annotated[int | None, typer.Option(help="pipeline parallel size")] = None,
    ep: Annotated[int | None, typer.Option(help="expert parallel size")] = None,
    dp: Annotated[int | None, typer.Option(help="data parallel size")] = None,
    chips: Annotated[int | None, typer.Option(help="chips of the system to use (default: one unit)")] = None,
    precision: PrecisionOpt = "fp8",
    kv_precision: KvOpt = None,
    engine: EngineOpt = None,
    tpot_max: TpotOpt = None,
    electricity: ElecOpt = None, pue: PueOpt = None, years: YearsOpt = None, utilization: UtilOpt = None,
    facility: FacOpt = None, price: PriceOpt = None, system_price: SysPriceOpt = None,
    server_overhead: ServerOpt = None, network_fraction: NetOpt = None, tdp: TdpOpt = None, idle_w: IdleOpt = None,
    calibration: CalOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """$/Mtok (input, output, blended), tokens per joule, power draw (W) and TCO per hour of one deployment."""
    from suanli.econ.report import cost_report

    ask = _ask(model, input, output, batch, precision, kv_precision, engine, calibration, tpot_max, tp=tp, pp=pp,
               ep=ep, dp=dp)
    k = _knobs(electricity, pue, years, utilization, facility, price, system_price, server_overhead,
               network_fraction, tdp, idle_w)
    r = cost_report(ask, system, k, chips)
    if as_json:
        emit_json(r)
        return
    d, w, u, p, h = r["deployment"], r["workload"], r["usd_per_mtok"], r["power"], r["tco"]
    j = r["joules_per_token_by_phase"]
    out.print(f"[bold]{r['model']}[/] on [bold]{r['system']}[/] ({r['chips']} x {r['chip']}): tp={d['tp']} "
              f"pp={d['pp']} ep={d['ep']} dp={d['dp']}, {d['precision']}, batch {w['batch']}, input {w['input']}, "
              f"output {w['output']}")
    out.print(f"Throughput {_f(r['output_tok_s'])} output tok/s ({_f(r['output_tok_s_per_chip'])} per chip), "
              f"TTFT {_f(r['ttft_ms'], 1)} ms, TPOT {_f(r['tpot_ms'])} ms")
    band = r["intervals"].get("usd_per_mtok_blended")
    out.print(f"[bold]$ per million tokens[/]: input {_f(u['input'], 3)}, output {_f(u['output'], 3)}, blended "
              f"{_f(u['blended'], 3)}" + (f" (P10-P90 {_f(band['p10'], 3)}-{_f(band['p90'], 3)}, from the "
                                          "throughput band)" if band else ""))
    out.print(f"[bold]Energy[/] (IT): {_f(r['joules_per_token'], 3)} J/token = {_f(r['tokens_per_joule'])} tokens/J; "
              f"prefill {_f(j['prefill_per_input_token'], 3)} J per input token, decode "
              f"{_f(j['decode_per_output_token'], 3)} J per output token; at the wall x PUE {p['pue']:g}")
    out.print(f"[bold]Power[/]: serving {_f(r['power_w'])} W IT, {_f(r['power_wall_w'])} W at the wall; per chip "
              f"{_f(p['chip_prefill_w'], 0)} W in prefill (activity {p['prefill_activity']:.2f}), "
              f"{_f(p['chip_decode_w'], 0)} W in decode ({p['decode_activity']:.2f}), idle {_f(p['chip_idle_w'], 0)}"
              f" W, TDP {_f(p['chip_tdp_w'], 0)} W; node overhead {_f(p['node_overhead_w'], 0)} W")
    c = h["usd_per_hour"]
    out.print(f"[bold]TCO per hour[/]: capex {_f(c['capex'])} + facility {_f(c['facility'])} + energy "
              f"{_f(c['energy'])} = ${_f(c['total'])}; capex per chip ${_f(h['capex_per_chip_usd'])}, "
              f"{_f(h['tokens_per_hour'] / 1e6, 1)} Mtok per hour")
    for n in r["notes"]:
        out.print(f"[yellow]note[/]: {n}")
    _assumptions(r["assumptions"])


def _chip_list(spec: str) -> list:
    from suanli.catalog import catalog

    cat = catalog()
    if spec.strip().lower() == "all":
        return list(cat.chips.values())
    chips = [cat.chip(s.strip()) for s in spec.split(",") if s.strip()]
    if not chips:
        raise SuanliError("chips: give chip ids separated by commas, or 'all'")
    return chips


def ppa(
    chips: Annotated[str, typer.Option("--chips", help="comma-separated chip ids, or 'all'")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="model id for tokens/s figures (optional)")
                     ] = None,
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    batch: BatchOpt = None,
    precision: PrecisionOpt = "fp8",
    node: Annotated[int, typer.Option("--node", help="chips per node to run the model on (doubled until it fits)")
                    ] = 8,
    price: PriceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens/s per chip, per W, per mm^2 of die and per $1000; TFLOPS/W and TFLOPS/mm^2 at each precision."""
    from suanli.econ.ppa import datasheet_ppa, workload_ppa
    from suanli.econ.report import parse_prices

    if node < 1:
        raise SuanliError(f"node: {node} is not allowed; give 1 or more chips per node")
    if model:
        from suanli.catalog import catalog

        model = catalog().resolve("model", model)  # an unknown model is the user's error, not a row's
    prices = parse_prices(price)
    ask = _ask(model, input, output, batch, precision, None, None, None) if model else None
    rows = [workload_ppa(ask, c, node, prices.get(c.id)) if ask else datasheet_ppa(c) for c in _chip_list(chips)]
    if as_json:
        emit_json({"model": model, "input": input, "output": output, "precision": precision, "chips": rows})
        return
    if ask:
        t = Table(title=f"{model}, {precision}, input {input}, output {output}: per chip")
        for col in ("chip", "chips", "tok/s", "P10-P90", "W", "tok/s/W", "tok/s/mm2", "tok/s per $1k", "TPP"):
            t.add_column(col, justify="left" if col == "chip" else "right")
        for r in rows:
            if "error" in r:
                t.add_row(r["id"], "", f"[red]{r['error']}[/]", "", "", "", "", "", _f(r["tpp"]))
                continue
            b = r.get("intervals", {}).get("output_tok_s_per_chip")
            t.add_row(r["id"], str(r["chips"]), _f(r["output_tok_s_per_chip"], 1),
                      f"{_f(b['p10'], 1)}-{_f(b['p90'], 1)}" if b else "", _f(r["chip_power_w"], 0),
                      _f(r["tok_s_per_w"], 3), _f(r["tok_s_per_mm2"], 3), _f(r["tok_s_per_kusd"], 2), _f(r["tpp"]))
        out.print(t)
        out.print("P10-P90: tok/s per chip times the band of held-out errors of its class (the per-W, per-mm2 and "
                  "per-$ figures scale with it; `--json` has each)")
    t = Table(title="Datasheet: dense TFLOPS (TOPS) per W of TDP and per mm^2 of die")
    dts = ("fp32", "bf16", "fp8", "int8", "fp4")
    for col in ("chip", "TDP W", "die mm2", *(f"{d}/W" for d in dts), *(f"{d}/mm2" for d in dts)):
        t.add_column(col, justify="left" if col == "chip" else "right")
    for r in rows:
        t.add_row(r["id"], _f(r["tdp_w"], 0), _f(r["die_area_mm2"], 0), *(_f(r["tflops_per_w"].get(d), 3) for d in dts),
                  *(_f(r["tflops_per_mm2"].get(d), 3) for d in dts))
    out.print(t)


def silicon(
    die_area: Annotated[float | None, typer.Option("--die-area", help="area of one compute die, mm^2")] = None,
    node: Annotated[str | None, typer.Option("--node", help="process node: 2nm, 3nm, 5nm (4nm), 7nm (6nm), 10nm, "
                                                            "16nm (12/14nm), 28nm, 40nm, 90nm")] = None,
    chip: Annotated[str | None, typer.Option("--chip", help="take die area, node, dies and HBM stacks from a "
                                                            "catalog chip")] = None,
    dies: Annotated[int | None, typer.Option("--dies", help="compute dies per package")] = None,
    wafer_price: Annotated[float | None, typer.Option("--wafer-price", help="USD per 300 mm wafer")] = None,
    defect_density: Annotated[float | None, typer.Option("--defect-density", help="killer defects per cm^2")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="negative-binomial clustering parameter")] = None,
    yield_model: Annotated[str | None, typer.Option("--yield-model", help="poisson, murphy, seeds or "
                                                                          "negative-binomial")] = None,
    hbm_stacks: Annotated[int | None, typer.Option("--hbm-stacks", help="HBM stacks in the package")] = None,
    hbm_stack_price: Annotated[float | None, typer.Option("--hbm-stack-price", help="USD per HBM stack")] = None,
    packaging_cost: Annotated[float | None, typer.Option("--packaging-cost", help="packaging, test and assembly, "
                                                                                  "USD per package")] = None,
    package_yield: Annotated[float | None, typer.Option("--package-yield", help="share of packages passing test")
                             ] = None,
    nre: Annotated[float | None, typer.Option("--nre", help="design cost (NRE), USD")] = None,
    volume: Annotated[int | None, typer.Option("--volume", help="chips made, to spread the NRE over")] = None,
    wafer_diameter: Annotated[float | None, typer.Option("--wafer-diameter", help="wafer diameter, mm")] = None,
    edge_exclusion: Annotated[float | None, typer.Option("--edge-exclusion", help="unusable wafer rim, mm")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dies per wafer, yield (four models), cost per good die, packaged cost with HBM, NRE per unit (USD)."""
    from suanli.econ.silicon import silicon_cost

    if chip:
        from suanli.catalog import catalog

        c = catalog().chip(chip)
        n_dies = dies or c.dies or 1
        die_area = die_area or (c.die_area_mm2 / n_dies if c.die_area_mm2 else None)
        node = node or (f"{c.node_nm:g}nm" if c.node_nm else None)
        dies = n_dies
        hbm_stacks = hbm_stacks if hbm_stacks is not None else (c.memory.stacks or 0)
    if die_area is None or node is None:
        raise SuanliError("silicon: give --die-area (mm^2) and --node (e.g. 7nm), or a --chip whose catalog entry "
                          "has both")
    r = silicon_cost(die_area, node, dies=dies or 1, wafer_price=wafer_price, defect_density=defect_density,
                     alpha=alpha, yield_model=yield_model, hbm_stacks=hbm_stacks or 0, hbm_stack_usd=hbm_stack_price,
                     packaging_usd=packaging_cost, package_yield=package_yield, nre=nre, volume=volume,
                     wafer_diameter_mm=wafer_diameter, edge_exclusion_mm=edge_exclusion)
    if as_json:
        emit_json(r)
        return
    y = r["yield"]
    out.print(f"[bold]{_f(r['die_area_mm2'], 1)} mm^2 die at {r['node']}[/] on a {r['wafer_diameter_mm']:g} mm wafer:"
              f" {r['dies_per_wafer']} dies per wafer ({r['dies_per_wafer_exact']:.1f} before rounding down)")
    out.print("Yield: " + ", ".join(f"{k} {v:.3f}" for k, v in y.items()) + f"  -> using {r['yield_model']}: "
              f"{_f(r['good_dies_per_wafer'], 1)} good dies per wafer")
    out.print(f"Cost per good die ${_f(r['cost_per_good_die_usd'])} (wafer ${_f(r['wafer_price_usd'])}); packaged "
              f"chip ${_f(r['packaged_cost_usd'])} ({r['dies']} die(s), {r['hbm_stacks']} HBM stacks "
              f"${_f(r['hbm_cost_usd'])}, packaging ${_f(r['packaging_usd'])})")
    out.print(f"NRE ${_f(r['nre_usd'])} over {r['volume']:,} units = ${_f(r['nre_per_unit_usd'])} per unit; unit "
              f"cost with NRE ${_f(r['unit_cost_usd'])}")
    _assumptions(r["assumptions"])


def policy(
    chips: Annotated[str, typer.Option("--chips", help="comma-separated chip ids, or 'all'")] = "all",
    hbm_stack_area: Annotated[float | None, typer.Option("--hbm-stack-area", help="HBM stack footprint, mm^2")
                              ] = None,
    as_json: JsonOpt = False,
) -> None:
    """TPP, performance density, HBM bandwidth density and US 3A090 class per chip (estimate, not legal advice)."""
    from suanli.econ.policy import policy_report

    r = policy_report(_chip_list(chips), hbm_stack_area)
    if as_json:
        emit_json(r)
        return
    t = Table(title="US export-control arithmetic (ECCN 3A090) from dense catalog rates")
    for col in ("chip", "TPP", "PD", "HBM GB/s/mm2", "I/O GB/s", "Oct 2022", "Oct 2023 / Dec 2024", "HBM 3A090.c"):
        t.add_column(col, overflow="fold")
    for c in r["chips"]:
        b = c["by_rule"]
        hbm = {True: "over 2 GB/s/mm2", False: "under", None: "?"}[b["dec-2024-hbm-3a090c"]]
        t.add_row(c["id"], _f(c["tpp"], 0), _f(c["performance_density"]), _f(c["hbm_bandwidth_density"]),
                  _f(c["io_bidirectional_gb_s"], 0), b["oct-2022"], c["class"], hbm)
    out.print(t)
    for c in r["chips"]:
        if c.get("named"):
            out.print(f"  {c['id']}: {c['named']}")
    for rid, rule in r["rules"].items():
        out.print(f"  [dim]{rid} ({rule['date']}): {rule['name']}; source: {rule['source']}[/]")
    out.print(f"[yellow]{r['disclaimer']}[/]")


def design(
    base: Annotated[str, typer.Option("--base", help="catalog chip to start from")],
    set_: Annotated[str, typer.Option("--set", help="changes, e.g. memory.bandwidth=6TB/s,compute.bf16=500,"
                                                    "tdp=1000W,price=x1.2")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="model to measure the gain on (optional)")
                     ] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="catalog system of the base chip (default: "
                                                                      "a node of --chips)")] = None,
    chips: ChipsOpt = None,
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    batch: BatchOpt = None,
    precision: PrecisionOpt = "fp8",
    save: Annotated[str | None, typer.Option("--save", help="id to save the chip under in the user catalog "
                                                            "($SUANLI_HOME/catalog/chips)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A what-if chip: its changes, datasheet PPA beside the base, and the predicted gain on a workload."""
    from suanli.econ.whatif import design_report

    ask = _ask(model, input, output, batch, precision, None, None, None) if model else None
    r = design_report(base, set_, ask, system, chips, save)
    if as_json:
        emit_json(r)
        return
    out.print(f"[bold]{r['id']}[/]: {r['base']} with " + ", ".join(f"{c['field']} {_f(c['from'])} -> {_f(c['to'])}"
                                                                 for c in r["changes"]))
    pb, pd = r["ppa"]["base"], r["ppa"]["derived"]
    out.print(f"TPP {_f(pb['tpp'], 0)} -> {_f(pd['tpp'], 0)}; performance density {_f(pb['performance_density'])} -> "
              f"{_f(pd['performance_density'])}; memory GB/s per W {_f(pb['memory_gb_s_per_w'])} -> "
              f"{_f(pd['memory_gb_s_per_w'])}")
    if "workload" in r:
        t = Table(title=f"{model}, {precision}, input {input}, output {output}")
        for col in ("chip", "chips", "layout", "batch", "TTFT ms", "TPOT ms", "tok/s per chip", "W per chip",
                    "tok/s/W"):
            t.add_column(col)
        for w in r["workload"].values():
            d = w["deployment"]
            t.add_row(w["chip"], str(w["chips"]), f"tp{d['tp']} pp{d['pp']} ep{d['ep']} dp{d['dp']}",
                      str(w["workload"]["batch"]), _f(w["ttft_ms"], 1), _f(w["tpot_ms"]),
                      _f(w["output_tok_s_per_chip"], 1), _f(w["chip_power_w"], 0), _f(w["tok_s_per_w"], 3))
        out.print(t)
        out.print("Gain (what-if / base): " + ", ".join(f"{k} x{v:.2f}" for k, v in r["gain"].items()))
    if r["saved"]:
        out.print(f"saved to {r['saved']}: use --system 1x{r['id']} or 8x{r['id']} with any command")


def isoperf(
    model: ModelOpt,
    target: Annotated[str, typer.Option("--target", help="system to match, e.g. dgx-h100")],
    candidate: Annotated[str, typer.Option("--candidate", help="unit to replicate, e.g. 1xascend-910b or a "
                                                               "catalog system")],
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    batch: BatchOpt = None,
    precision: PrecisionOpt = "fp8",
    tpot_max: TpotOpt = None,
    electricity: ElecOpt = None, pue: PueOpt = None, years: YearsOpt = None, utilization: UtilOpt = None,
    price: PriceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many candidate chips match the target's output tok/s on this workload, at what power (W) and cost."""
    from suanli.econ.report import isoperf as run

    ask = _ask(model, input, output, batch, precision, None, None, None, tpot_max)
    r = run(ask, target, candidate, _knobs(electricity, pue, years, utilization, price=price))
    if as_json:
        emit_json(r)
        return
    t = Table(title=f"{r['model']}: matching {r['match']}")
    for col in ("side", "system", "replicas", "chips", "output tok/s", "IT kW", "wall kW", "capex $", "$/hour",
                "$/Mtok"):
        t.add_column(col)
    for side in ("target", "candidate"):
        s = r[side]
        t.add_row(side, s["system"], str(s["replicas"]), str(s["total_chips"]), _f(s["total_output_tok_s"]),
                  _f(s["power_w"] / 1e3, 1), _f(s["power_wall_w"] / 1e3, 1), _f(s["capex_usd"]),
                  _f(s["usd_per_hour"]), _f(s["usd_per_mtok"]["blended"], 3))
    out.print(t)
    ratio = r["candidate_over_target"]
    out.print("candidate / target: " + ", ".join(f"{k} x{_f(v)}" for k, v in ratio.items()))
