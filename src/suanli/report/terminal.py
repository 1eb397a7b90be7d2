"""Terminal rendering of predictions, comparisons and catalog listings (rich tables). No formulas here."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from suanli.perf.predict import Prediction
from suanli.schema import Chip


def _f(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "?"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def render_prediction(p: Prediction, console: Console, show_ops: bool = False) -> None:
    d, w = p.deployment, p.workload
    console.print(f"[bold]{p.model}[/] on [bold]{p.system}[/] ({p.chips} x {p.chip}): tp={d.tp} pp={d.pp} "
                  f"ep={d.ep} dp={d.dp}, {d.precision}" + (f", KV {d.kv_precision}" if d.kv_precision else "") +
                  f", batch {w.batch}, input {w.input_len}, output {w.output_len}")
    m = p.memory.as_gb()
    verdict = "[green]fits[/]" if p.fits else "[red]does not fit[/]"
    if "fits" in p.bounds:
        console.print(f"Memory per chip (GB): weights {m['weights']:.2f}, KV cache {m['kv_cache']:.2f}, activations "
                      f"{m['activations']:.2f}; the chip's capacity is unknown, so the fit is not checked")
    else:
        console.print(f"Memory per chip (GB): weights {m['weights']:.2f}, KV cache {m['kv_cache']:.2f}, activations "
                      f"{m['activations']:.2f}, runtime reserve {m['reserve']:.2f}, free {m['free']:.2f} of "
                      f"{m['capacity']:.1f} -> {verdict}")
    if not p.fits:
        need = m["weights"] + m["kv_cache"] + m["activations"] + m["reserve"]
        console.print(f"  needs {need:.1f} GB per chip, has {m['capacity']:.1f}; " + (
            f"fewest chips that fit: {p.fewest_chips['chips']} (tp={p.fewest_chips['tp']} pp={p.fewest_chips['pp']}"
            f" ep={p.fewest_chips['ep']})" if p.fewest_chips else "no layout found that fits"))
    parts = p.ttft_parts
    split = (f": front end {_f(parts.host * 1e3)} + waiting for the running step" + (
        " and the prepared one (overlap scheduling)" if p.engine.get("overlap_scheduling") else "")
        + f" {_f(parts.admission * 1e3)} + its "
             f"prefill {_f(parts.prefill * 1e3)}" if parts else "")
    mark = {k: f" ({v})" for k, v in p.bounds.items() if k != "missing"}
    console.print(f"TTFT {_f(p.ttft_s * 1e3)} ms{mark.get('ttft_ms', '')} (prefill of the whole batch and the "
                  "engine's front end; "
                  f"{_f(p.ttft_loaded_s * 1e3)} ms for one "
                  f"request joining the running batch{split})")
    console.print(f"TPOT {_f(p.tpot_s * 1e3, 2)} ms{mark.get('tpot_ms', '')} mean over the generation "
                  f"({_f(1 / p.tpot_s)} tok/s per user)   end-to-end {_f(p.e2e_s, 2)} s")
    console.print(f"Throughput{mark.get('output_tok_s', '')}: output {_f(p.output_tok_s)} tok/s "
                  f"({_f(p.output_tok_s / p.chips)} per chip), total "
                  f"{_f(p.total_tok_s)} tok/s ({_f(p.total_tok_s / p.chips)} per chip)")
    bands = [(label, p.intervals[k], digits) for label, k, digits in (
        ("TTFT ms (one request joining)", "ttft_loaded_ms", 1), ("TPOT ms", "tpot_ms", 2),
        ("output tok/s per chip", "output_tok_s_per_chip", 1)) if k in p.intervals]
    if bands:
        console.print("[P10, P90] from held-out errors: " + "; ".join(
            f"{label} {_f(b['p10'], d)}-{_f(b['p90'], d)}" for label, b, d in bands))
        console.print(f"  basis: {bands[-1][1]['basis']}")
    t = Table(title="Where the time goes (one step, per chip)", show_lines=False)
    for col in ("op class", "prefill ms", "bound", "decode ms", "bound", "decode share"):
        t.add_column(col, justify="right" if "ms" in col or "share" in col else "left")
    pre = {r["op_class"]: r for r in p.by_class("prefill")}
    dec = {r["op_class"]: r for r in p.by_class("decode")}
    dec_total = sum(r["time_ms"] for r in dec.values()) or 1.0
    for cls in ("gemm", "attention", "moe", "elementwise", "comm", "overhead"):
        if cls not in pre and cls not in dec:
            continue
        a, b = pre.get(cls, {}), dec.get(cls, {})
        t.add_row(cls, _f(a.get("time_ms"), 2), a.get("bound", ""), _f(b.get("time_ms"), 3), b.get("bound", ""),
                  f"{100 * b.get('time_ms', 0) / dec_total:.0f}%")
    console.print(t)
    if show_ops:
        o = Table(title="Ops of the decode step (mid-generation context)")
        for col in ("op", "class", "count", "GFLOP", "MB", "comm MB", "ms", "bound"):
            o.add_column(col)
        for x in p.decode_ops:
            o.add_row(x.op.name, x.op.op_class, _f(x.op.count, 0), _f(x.op.flops * x.op.count / 1e9, 2),
                      _f(x.op.bytes * x.op.count / 1e6, 1), _f(x.op.comm_bytes * x.op.count / 1e6, 2),
                      _f(x.seconds * 1e3, 3), x.bound)
        console.print(o)
    note = p.factors_note if p.factors_note != "calibrated" else f"calibrated ({p.calibration})"
    console.print(f"Factors: {note}")
    if p.engine:
        console.print(f"Engine: {engine_line(p.engine)}")
    for n in p.notes:
        if n != p.factors_note:
            console.print(f"Note: {n}")


def engine_line(e: dict) -> str:
    """One line naming the stack assumed and the kernel paths it takes."""
    version = e.get("version") or (f"as of {e['as_of']}" if e.get("as_of") else "version not stated")
    paths = e.get("paths", {})
    shown = "; ".join(f"{k}: {paths[k]}" for k in ("graph", "moe", "memory", "speculative", "vision")
                      if k in paths)
    return f"{e.get('name')} ({version}): {shown}"


def render_compare(rows: list[dict], console: Console, title: str) -> None:
    t = Table(title=title)
    for col in ("#", "system", "chips", "layout", "batch", "TTFT ms", "TPOT ms", "output tok/s", "tok/s/chip",
                "P10-P90", "1 user: prefill tok/s", "decode tok/s"):
        t.add_column(col, justify="right" if col not in ("system", "layout") else "left",
                     no_wrap=col in ("system", "layout"))
    notes = []
    for i, r in enumerate(rows, 1):
        if r.get("error"):
            t.add_row("-", r["system"], "", "", "", "", "", "", "see below", "", "", "")
            notes.append(f"{r['system']}: {r['error']}")
            continue
        lay = f"tp{r['tp']} pp{r['pp']} ep{r['ep']} dp{r['dp']}"
        t.add_row(str(i), r["system"], str(r["chips"]), lay, str(r["batch"]), _f(r["ttft_ms"]), _f(r["tpot_ms"], 2),
                  _f(r["output_tok_s"]), _f(r["output_tok_s_per_chip"]), _band(r, "output_tok_s_per_chip"),
                  _f(r["prefill_tok_s"]), _f(r["decode_tok_s"]))
        if r.get("notes"):
            notes.append(f"{r['system']}: {r['notes']}")
    console.print(t)
    console.print("TTFT: one request joining the running batch; TPOT: mean decode step at that batch; "
                  "P10-P90: tok/s/chip times the 10th and 90th percentiles of measured / predicted on held-out "
                  "rows of its class; "
                  "1 user: a single request alone (prompt tokens/s while prefilling, tokens/s while decoding).")
    for n in notes:
        console.print(f"  {n}")


def _band(row: dict, key: str) -> str:
    b = (row.get("intervals") or {}).get(key)
    return f"{_f(b['p10'])}-{_f(b['p90'])}" if b else ""


def chip_row(c: Chip) -> dict:
    return {
        "id": c.id, "vendor": c.vendor, "category": c.category, "family": c.family, "year": c.year,
        "bf16_tflops": c.matrix_tflops.get("bf16") or c.matrix_tflops.get("fp16"),
        "fp8_tflops": c.matrix_tflops.get("fp8"), "int8_tops": c.matrix_tflops.get("int8"),
        "fp4_tflops": c.matrix_tflops.get("fp4"), "memory_gb": c.memory.capacity_gb,
        "bandwidth_gb_s": c.memory.bandwidth_gb_s, "tdp_w": c.tdp_w, "status": c.status,
    }


def render_chips(chips: list[Chip], console: Console) -> None:
    t = Table(title=f"{len(chips)} chips (dense rates; ? = unknown)")
    for col in ("id", "vendor", "class", "year", "BF16/FP16 TF", "FP8 TF", "INT8 TOPS", "FP4 TF", "memory GB",
                "GB/s", "TDP W", "sources"):
        t.add_column(col, no_wrap=col in ("id", "vendor"), justify="left" if col in ("id", "vendor", "class") else
                     "right")
    for c in chips:
        r = chip_row(c)
        t.add_row(c.id, c.vendor, c.category + ("" if c.status == "shipping" else f" ({c.status})"),
                  str(c.year or "?"), _f(r["bf16_tflops"]), _f(r["fp8_tflops"]), _f(r["int8_tops"]),
                  _f(r["fp4_tflops"]), _f(r["memory_gb"], 0), _f(r["bandwidth_gb_s"], 0), _f(r["tdp_w"], 0),
                  str(len(c.sources)))
    console.print(t)


def render_stacks(rows: list[dict], console: Console, title: str) -> None:
    t = Table(title=title)
    for col in ("engine", "layout", "batch", "TTFT ms", "TPOT ms", "tok/s/chip", "vs best", "step ms", "seq us",
                "kernel us", "GEMM eff", "stream eff"):
        t.add_column(col, justify="left" if col in ("engine", "layout") else "right", no_wrap=col == "engine")
    for r in rows:
        f = r.get("factors", {})
        costs = (_f(f.get("step_overhead_ms"), 2), _f(f.get("seq_overhead_us"), 1), _f(f.get("kernel_us"), 1),
                 _f(f.get("gemm_compute"), 2), _f(f.get("gemm_memory"), 2))
        if "error" in r:
            t.add_row(r["engine"], r["error"], "", "", "", "", "", *costs)
            continue
        t.add_row(r["engine"], f"tp{r['tp']} pp{r['pp']} ep{r['ep']} dp{r['dp']}", str(r["batch"]),
                  _f(r["ttft_ms"], 1), _f(r["tpot_ms"], 2), _f(r["output_tok_s_per_chip"], 1),
                  f"{100 * r['vs_best']:.0f}%", *costs)
    console.print(t)
    for r in rows:
        paths = "; ".join(f"{k}: {v}" for k, v in r["paths"].items())
        tuned = ", tuned kernels here" if r["tuned"] else ""
        console.print(f"[bold]{r['engine']}[/bold] ({r['engine_name']}{tuned}): {paths}")
        if r.get("version_note"):
            console.print(f"  version: {r['version_note']}")
        console.print(f"  factors: {r.get('factors_note') or 'n/a'}; sources: {' | '.join(r['sources'])}")
