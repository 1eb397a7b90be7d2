"""`suanli probe`, `suanli run` and `suanli calibrate`: measure this machine, run real inference on it, fit factors.

`calibrate` has two sources: `--from-probe` (this machine's recorded runs, here) and `--data FILE` (published
measurements, fitted by the validation package: `suanli.commands.validation.calibrate_data`, when it exists).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.commands.common import CalOpt, InputOpt, JsonOpt, ModelOpt, OutputOpt, emit_json, out
from suanli.schema import SuanliError

DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, or cuda (a GPU visible to torch)")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: every core this "
                                                                  "process may use)")]


def register(app: typer.Typer) -> None:
    app.command()(probe)
    app.command("run")(run)
    app.command()(calibrate)


def _device(device: str) -> str:
    d = device.lower()
    if d not in ("cpu", "cuda"):
        raise SuanliError(f"device: {device!r} is not allowed; allowed: cpu, cuda")
    return d


QuietOpt = Annotated[bool, typer.Option("--quiet", help="no progress on stderr (none is shown with --json or "
                                                    "when stderr is not a terminal)")]


def probe(
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    no_calibrate: Annotated[bool, typer.Option("--no-calibrate", help="micro-benchmarks only: skip the short real "
                                                                      "runs and the fit")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Describe this machine and measure it: GEMM TFLOPS per dtype and shape, memory GB/s, attention kernels.

    Writes the chip `local-cpu` (or `local-cuda`) to the user catalog, then times a few short real runs of
    smollm2-135m and fits this machine's efficiency factors (some runs fitted, others held out to check them).
    """
    from suanli.calibrate.session import run_probe
    from suanli.report.progress import stages

    with stages("probing this machine", quiet or as_json) as say:
        rec = run_probe(_device(device), threads, not no_calibrate, say)
    if as_json:
        emit_json(rec)
        return
    render_probe(rec)


def render_probe(rec: dict) -> None:
    b = rec["bench"]
    from suanli.calibrate.localchip import describe

    out.print(f"[bold]{rec['chip']}[/]: {describe(rec['machine'])}")
    _warn_load(rec.get("other_load", {}), "the probe")
    t = Table(title="GEMM (torch.matmul): TFLOPS best / median")
    t.add_column("shape (MxNxK)")
    dtypes = [d for d in b["gemm"] if "shapes" in b["gemm"][d]]
    for d in dtypes:
        t.add_column(d, justify="right")
    shapes = list(dict.fromkeys(s for d in dtypes for s in b["gemm"][d]["shapes"]))
    for s in shapes:
        cells = []
        for d in dtypes:
            r = b["gemm"][d]["shapes"].get(s, {})
            cells.append(f"{r['tflops_best']:.3f} / {r['tflops_median']:.3f}" if "tflops_best" in r else "skipped")
        t.add_row(s, *cells)
    out.print(t)
    bw = b["bandwidth"]
    out.print(f"memory: read {bw['read_gb_s']:.1f} GB/s (median {bw['read_gb_s_median']:.1f}), copy "
              f"{bw['copy_gb_s']:.1f} GB/s; weight streaming ({b['weight_streaming']['dtype']} GEMV) "
              f"{b['weight_streaming']['gb_s']:.1f} GB/s; elementwise {b['elementwise']['gb_s']:.1f} GB/s")
    a = b["attention"]
    out.print(f"attention ({a['dtype']} SDPA): prefill {a['prefill_tflops']:.3f} TFLOPS ({a['prefill_shape']}), "
              f"decode {a['decode_gb_s']:.1f} GB/s of KV ({a['decode_shape']}); one eager op {b['kernel_us']:.1f} us")
    out.print(f"chip file: {rec['chip_file']}")
    cal = rec.get("calibration")
    if cal:
        render_fit(cal, f"calibration ({cal['model']}, {cal['precision']}): {cal['file']}")
    else:
        out.print("no factors fitted (--no-calibrate); `suanli calibrate --from-probe` fits them on recorded runs")
    tm = rec["timings_s"]
    out.print("time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in tm.items()))


def _warn_load(load: dict, what: str) -> None:
    if load.get("other_cores", 0) > 0.2 or load.get("steal_cores", 0) > 0.2:
        out.print(f"[yellow]warning[/]: other processes kept {load['other_cores']} cores busy (the hypervisor stole "
                  f"{load['steal_cores']}) during {what}: its times are slower than this machine alone; measure "
                  "again when it is quiet")


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def render_fit(cal: dict, title: str) -> None:
    out.print(title)
    out.print("  factors: " + ", ".join(f"{k}={cal['factors'][k]:.4g}" for k in (*cal["fitted"], "kernel_us",
                                                                                  "elementwise_memory",
                                                                                  "gemm_tile_m")))
    t = Table(title="real runs: predicted vs measured (signed error)")
    for col in ("set", "batch", "input", "output", "TTFT ms", "err", "TPOT ms", "err", "out tok/s", "err"):
        t.add_column(col, justify="left" if col == "set" else "right")
    for name, rows in (("fit", cal["fit_runs"]), ("held-out", cal["heldout_runs"])):
        for r in rows:
            m, e = r["measured"], r["error"]
            t.add_row(name, str(r["batch"]), str(r["input"]), str(r["output"]), f"{m['ttft_ms']:.1f}",
                      _pct(e["ttft_ms"]), f"{m['tpot_ms']:.2f}", _pct(e["tpot_ms"]), f"{m['output_tok_s']:.1f}",
                      _pct(e["output_tok_s"]))
    out.print(t)
    for name in ("fit_summary", "heldout_summary"):
        s = cal.get(name) or {}
        out.print(f"  {name.split('_')[0]}: " + (", ".join(
            f"{k} mean |err| {v['mean_abs']:.1%} (max {v['max_abs']:.1%})" for k, v in s.items()) or "no runs"))


def _batches(text: str) -> list[int]:
    try:
        bs = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SuanliError(f"batch: {text!r} is not a comma-separated list of integers, e.g. 1,4,16") from None
    if not bs or min(bs) < 1:
        raise SuanliError(f"batch: {text!r}: every batch must be >= 1")
    return bs


def run(
    model: ModelOpt,
    input: InputOpt = 256,
    output: OutputOpt = 64,
    batch: Annotated[str, typer.Option("--batch", help="batches to run, comma-separated, e.g. 1,4,16")] = "1",
    device: DeviceOpt = "cpu",
    precision: Annotated[str | None, typer.Option("--precision", help="bf16, fp32 or fp16 (default: the fastest "
                                                                      "the probe measured)")] = None,
    calibration: CalOpt = None,
    repeat: Annotated[int, typer.Option("--repeat", help="timed prefills per run (TTFT is their median)")] = 3,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Real inference on this machine (random weights, real shapes), measured next to suanli's prediction.

    TTFT (ms), TPOT (ms) and output tok/s measured per batch, predicted for the probed chip with this machine's
    calibration (from `suanli probe` / `suanli calibrate --from-probe`, or --calibration), and the signed error.
    """
    from suanli.calibrate.runner import RUN_DTYPES
    from suanli.calibrate.session import run_local

    if input < 1 or output < 2:
        raise SuanliError(f"input={input}, output={output}: need input >= 1 and output >= 2 (TPOT needs a step)")
    if precision and precision not in RUN_DTYPES:
        raise SuanliError(f"precision: {precision!r} is not allowed for real runs; allowed: {', '.join(RUN_DTYPES)}")
    if repeat < 1:
        raise SuanliError(f"repeat={repeat}: must be >= 1")
    from suanli.report.progress import stages

    with stages("running on this machine", quiet or as_json) as say:
        res = run_local(model, _batches(batch), input, output, _device(device), precision, calibration, threads,
                        repeat, say)
    if as_json:
        emit_json(res)
        return
    t = Table(title=f"{res['model']} ({res['precision']}) on {res['chip']['id']}: measured vs predicted")
    for col in ("batch", "input", "output", "TTFT ms", "pred", "err", "TPOT ms", "pred", "err", "out tok/s", "pred",
                "err", "in fit"):
        t.add_column(col, justify="right")
    for r in res["runs"]:
        m, p, e = r["measured"], r["predicted"], r["error"]
        t.add_row(str(r["batch"]), str(r["input"]), str(r["output"]), f"{m['ttft_ms']:.1f}", f"{p['ttft_ms']:.1f}",
                  _pct(e["ttft_ms"]), f"{m['tpot_ms']:.2f}", f"{p['tpot_ms']:.2f}", _pct(e["tpot_ms"]),
                  f"{m['output_tok_s']:.1f}", f"{p['output_tok_s']:.1f}", _pct(e["output_tok_s"]),
                  "yes" if r["in_fit"] else "no")
    out.print(t)
    out.print(f"engine: {res['engine']}; calibration: {res['calibration']['source']} "
              f"({res['calibration']['factors']}); time: model build {res['timings_s']['build_s']:.1f} s, runs "
              f"{res['timings_s']['runs_s']:.1f} s")
    _warn_load(res.get("other_load", {}), "these runs")


def calibrate(
    from_probe: Annotated[bool, typer.Option("--from-probe", help="fit this machine's factors on its recorded real "
                                                                  "runs (from `suanli probe` and `suanli run`)")
                          ] = False,
    data: Annotated[str | None, typer.Option("--data", help="fit on published measurements in these files, "
                                                            "comma-separated (see docs/validation.md), or the "
                                                            "bundled sets: public, serving, edge, ops")] = None,
    out_file: Annotated[str | None, typer.Option("--out", help="where to write the calibration YAML (default for "
                                                               "--from-probe: this machine's, which `run` reads)")
                        ] = None,
    loso: Annotated[bool, typer.Option("--loso", help="with --data: also refit without each source in turn and "
                                                      "report the error on the held-out source (slow: minutes)")
                    ] = False,
    force: Annotated[bool, typer.Option("--force", help="with --data: replace --out if it exists")] = False,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Fit efficiency factors and save them as a calibration file that `predict`, `validate` and `run` accept.

    --data takes comma-separated files: end-to-end measurements (the public.csv format) are fitted on their
    throughput rows (server and interactive runs, whose load the latency limits set, and latency rows are validated
    only); micro-benchmark files (the ops.csv format) set the measured factors first: collective bandwidth,
    decode-GEMM and grouped-GEMM (expert) weight streaming, GEMM efficiency over the reduction length (k0) and
    how ops near the ridge combine compute and memory time."""
    if from_probe == (data is not None):
        raise SuanliError("calibrate: give exactly one of --from-probe (this machine) or --data FILE (published "
                          "measurements)")
    if data is not None:
        from suanli.commands import validation

        validation.calibrate_data(data=data, out=out_file, as_json=as_json, loso=loso, force=force)
        return
    from suanli.calibrate.session import calibrate_from_probe

    res = calibrate_from_probe(_device(device), out_file)
    if as_json:
        emit_json(res)
        return
    render_fit(res, f"calibration for {res['chip']} written to {res['file']}")
