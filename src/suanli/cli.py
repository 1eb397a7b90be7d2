"""The command line: parse, call the API, render. No formulas here.

User mistakes (unknown ids, impossible layouts, bad numbers) end with one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from typer.exceptions import TyperException

from suanli.commands.common import (
    CalOpt,
    EngineOpt,
    ImagesOpt,
    InputOpt,
    JsonOpt,
    KvOpt,
    ModelOpt,
    OutputOpt,
    PowerOpt,
    PrecisionOpt,
    SpecOpt,
    emit_json,
    out,
)
from suanli.schema import SuanliError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="suanli (算力): how LLMs run on AI accelerators you may not own, and what that costs.")
catalog_app = typer.Typer(no_args_is_help=True, help="List and show the bundled chips, systems and models.")
app.add_typer(catalog_app, name="catalog")

@app.command()
def predict(
    model: ModelOpt,
    system: Annotated[str, typer.Option("--system", "-s", help="system id from `suanli catalog systems`, "
                                                               "'1x<chip>' or '<n>x<chip>'")],
    tp: Annotated[int, typer.Option(help="tensor parallel size (chips splitting each layer)")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline parallel size (stages of layers)")] = 1,
    ep: Annotated[int, typer.Option(help="expert parallel size (MoE experts split over chips of a stage)")] = 1,
    dp: Annotated[int, typer.Option(help="data parallel size (replicas, or attention-DP ranks with EP)")] = 1,
    precision: Annotated[str | None, typer.Option("--precision", help="weight/matmul precision: bf16, fp16, fp8, "
                                                  "fp8-block, int8, w4a16, fp4, ... (default: bf16, or the chip's own "
                                                  "where it publishes no 16-bit rate)")] = None,
    kv_precision: KvOpt = None,
    engine: EngineOpt = None,
    batch: Annotated[int, typer.Option(help="concurrent sequences in the whole deployment")] = 1,
    input: InputOpt = 1024,
    output: OutputOpt = 128,
    calibration: CalOpt = None,
    speculative: SpecOpt = None,
    images: ImagesOpt = None,
    power_limit: PowerOpt = None,
    ops: Annotated[bool, typer.Option("--ops", help="also list every op of the decode step")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict TTFT, TPOT, throughput and memory fit of one deployment, op by op.

    TTFT (ms) is the prefill of the whole batch; TPOT (ms) the mean decode step over the generation; throughput
    (tok/s) counts the steady state of `batch` sequences, each prefilled once and decoded output-1 times.
    """
    from suanli.api import predict as run
    from suanli.perf.predict import not_fit_message
    from suanli.report.terminal import render_prediction

    p = run(model, system, tp=tp, pp=pp, ep=ep, dp=dp, precision=precision, kv_precision=kv_precision,
            engine=engine, batch=batch, input=input, output=output, calibration=calibration, speculative=speculative,
            images=images, power_limit=power_limit)
    if as_json:
        emit_json(p.to_dict())
    elif p.fits:
        render_prediction(p, out, show_ops=ops)
    if not p.fits:
        raise SuanliError(not_fit_message(p))


@app.command()
def compare(
    model: ModelOpt,
    systems: Annotated[str, typer.Option("--systems", help="comma-separated system ids")],
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    precision: PrecisionOpt = "fp8",
    kv_precision: KvOpt = None,
    engine: EngineOpt = None,
    batch: Annotated[int | None, typer.Option(help="total concurrent sequences per system (default: the largest "
                                                   "that fits, up to 512 per replica)")] = None,
    chips: Annotated[int | None, typer.Option(help="chips to use on each system (default: one whole unit)")] = None,
    tpot_max: Annotated[float | None, typer.Option("--tpot-max", help="TPOT limit in ms: shrink the batch to meet "
                                                                      "it")] = None,
    rank_by: Annotated[str, typer.Option("--rank-by", help="tok_s_per_chip, tok_s, tok_s_per_user, ttft or tpot")
                       ] = "tok_s_per_chip",
    calibration: CalOpt = None,
    speculative: SpecOpt = None,
    images: ImagesOpt = None,
    power_limit: PowerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank systems on the same model and request shape, each with its best layout and batch."""
    from suanli.api import compare as run
    from suanli.perf.factors import load_calibration
    from suanli.report.terminal import render_compare

    names = [s.strip() for s in systems.split(",") if s.strip()]
    cal = load_calibration(calibration) if calibration else None
    rows = run(model, names, input=input, output=output, precision=precision, kv_precision=kv_precision,
               engine=engine, batch=batch, chips=chips, tpot_limit_ms=tpot_max, rank_by=rank_by, calibration=cal,
               speculative=speculative, images=images, power_limit=power_limit)
    if as_json:
        emit_json({"model": model, "input": input, "output": output, "precision": precision, "rank_by": rank_by,
                   "systems": rows})
    else:
        render_compare(rows, out, f"{model}, {precision}, input {input}, output {output}: ranked by {rank_by}")


@app.command()
def stack(
    model: ModelOpt,
    system: Annotated[str, typer.Option("--system", "-s", help="system id from `suanli catalog systems`")],
    engines: Annotated[str | None, typer.Option("--engines", help="comma-separated engines, each NAME or "
                                                "NAME==VERSION (e.g. vllm-ascend==0.8.4,mindie); default: every "
                                                "engine with a profile that serves this chip")] = None,
    input: InputOpt = 1024,
    output: OutputOpt = 1024,
    precision: PrecisionOpt = "bf16",
    kv_precision: KvOpt = None,
    batch: Annotated[int | None, typer.Option(help="total concurrent sequences (default: the largest that fits)")
                     ] = None,
    tpot_max: Annotated[float | None, typer.Option("--tpot-max", help="TPOT limit in ms")] = None,
    calibration: CalOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same work on one system across engines and versions: how much of the gap is software.

    A row per engine with its best layout and batch, tok/s per chip against the best stack, the kernel paths it
    takes, its host costs and path efficiencies on this chip, and the sources of its profile.
    """
    from suanli.api import compare_stacks
    from suanli.perf.factors import load_calibration
    from suanli.report.terminal import render_stacks

    names = [e.strip() for e in engines.split(",") if e.strip()] if engines else None
    cal = load_calibration(calibration) if calibration else None
    rows = compare_stacks(model, system, names, input=input, output=output, precision=precision,
                          kv_precision=kv_precision, batch=batch, tpot_limit_ms=tpot_max, calibration=cal)
    if as_json:
        emit_json({"model": model, "system": system, "input": input, "output": output, "precision": precision,
                   "engines": rows})
    else:
        render_stacks(rows, out, f"{model} on {system}, {precision}, input {input}, output {output}: by engine")


@catalog_app.command("chips")
def catalog_chips(
    vendor: Annotated[str | None, typer.Option(help="only this vendor, e.g. nvidia, amd, huawei")] = None,
    klass: Annotated[str | None, typer.Option("--class", help="datacenter, edge or cpu")] = None,
    family: Annotated[str | None, typer.Option(help="architecture family, e.g. nvidia-hopper")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List chips with key figures (dense TFLOPS, memory GB, bandwidth GB/s, TDP W)."""
    from suanli.catalog import catalog
    from suanli.report.terminal import chip_row, render_chips

    chips = [c for c in catalog().chips.values()
             if (vendor is None or c.vendor == vendor.lower()) and (klass is None or c.category == klass.lower())
             and (family is None or c.family == family.lower())]
    if klass and klass.lower() not in ("datacenter", "edge", "cpu"):
        raise SuanliError(f"class: {klass!r} is not allowed; allowed: datacenter, edge, cpu")
    if as_json:
        emit_json({"chips": [{**chip_row(c), "figures": c.figures(), "sources": c.sources, "cite": c.cite}
                             for c in chips]})
    else:
        render_chips(chips, out)


@catalog_app.command("systems")
def catalog_systems(as_json: JsonOpt = False) -> None:
    """List systems (nodes, racks, supernodes); '1x<chip>' single-chip systems exist for every chip."""
    from rich.table import Table

    from suanli.catalog import catalog

    systems = [s for s in catalog().systems.values() if not s.id.startswith("1x")]
    if as_json:
        emit_json({"systems": [s.model_dump() for s in systems]})
        return
    t = Table(title=f"{len(systems)} systems (plus 1x<chip> for every chip)")
    for col in ("id", "chip", "chips", "per node", "scale-up", "GB/s/dir", "domain", "scale-out GB/s"):
        t.add_column(col)
    for s in systems:
        up = s.scale_up
        t.add_row(s.id, s.chip, str(s.chips), str(s.chips_per_node), (up.tech or "") if up else "",
                  str(up.bandwidth_gb_s or "?") if up else "", str(up.domain) if up else "1",
                  str(s.scale_out.bandwidth_gb_s or "?") if s.scale_out else "")
    out.print(t)


@catalog_app.command("models")
def catalog_models(as_json: JsonOpt = False) -> None:
    """List models with parameter counts (suanli's count and the published one; a vision tower's apart)."""
    from rich.table import Table

    from suanli.api import models

    rows = models()
    if as_json:
        emit_json({"models": rows})
        return
    t = Table(title=f"{len(rows)} models")
    for col in ("id", "layers", "hidden", "MoE", "params B", "active B", "vision B", "published B"):
        t.add_column(col)
    for r in rows:
        vision = f"{r['vision_params_b']:.2f}" if r["vision_params_b"] else ""
        t.add_row(r["id"], str(r["layers"]), str(r["hidden"]), "yes" if r["moe"] else "",
                  f"{r['total_params_b']:.2f}", f"{r['active_params_b']:.2f}", vision,
                  str(r["published_total_b"] or "?"))
    out.print(t)


@catalog_app.command("show")
def catalog_show(
    entry: Annotated[str, typer.Argument(help="a chip, system or model id")],
    as_json: JsonOpt = False,
) -> None:
    """Show every figure of one entry with its source."""
    from suanli.catalog import catalog

    cat = catalog()
    for kind in ("chip", "system", "model"):
        try:
            eid = cat.resolve(kind, entry)
        except SuanliError:
            continue
        obj = {"chip": cat.chips, "system": cat.systems, "model": cat.models}[kind][eid]
        if kind == "model":
            data = obj.model_dump()
            emit_json(data) if as_json else out.print_json(json.dumps(data))
            return
        figs = {p: {"value": v, "sources": obj.sources_of(p)} for p, v in obj.figures().items()}
        if as_json:
            emit_json({"kind": kind, "id": eid, "figures": figs, "notes": obj.notes})
            return
        out.print(f"[bold]{eid}[/] ({kind}): {obj.name}")
        for p, f in figs.items():
            out.print(f"  {p} = {f['value']}    [dim]{'; '.join(f['sources'])}[/]")
        if obj.notes:
            out.print(f"  notes: {obj.notes}")
        return
    cat.resolve("chip", entry)  # raises with the nearest ids


def _register_feature_commands() -> None:
    """Every module in suanli/commands (but `common`) adds its commands with `register(app)`."""
    import importlib
    import pkgutil

    import suanli.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name != "common":
            importlib.import_module(f"suanli.commands.{info.name}").register(app)


_registered: list[bool] = []


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line and exit 2 for user mistakes, never a traceback. `argv` (default: the command line)
    lets a harness run many commands in one process."""
    try:
        if not _registered:
            _register_feature_commands()
            _registered.append(True)
        app(args=argv, standalone_mode=False)
    except SuanliError as e:
        Console(stderr=True).print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except TyperException as e:  # usage errors: unknown option, bad number, missing option
        if type(e).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(e.format_message() + "\n")
            sys.exit(0)
        msg = " ".join(e.format_message().split())
        sys.stderr.write(f"error: {msg} (see --help)\n")
        sys.exit(getattr(e, "exit_code", 2) or 2)


if __name__ == "__main__":
    main()
