"""`suanli simulate`: push a request stream through a simulated engine and report what users see."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.commands.common import (
    CalOpt,
    EngineOpt,
    ImagesOpt,
    JsonOpt,
    KvOpt,
    ModelOpt,
    PowerOpt,
    PrecisionOpt,
    SpecOpt,
    emit_json,
    out,
)


def register(app: typer.Typer) -> None:
    app.command()(simulate)


def simulate(
    model: ModelOpt,
    system: Annotated[str, typer.Option("--system", "-s", help="system id, '1x<chip>' or '<n>x<chip>'")],
    tp: Annotated[int, typer.Option(help="tensor parallel size per instance")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline parallel size per instance")] = 1,
    ep: Annotated[int, typer.Option(help="expert parallel size (MoE)")] = 1,
    dp: Annotated[int, typer.Option(help="data-parallel replicas behind the router (attention-DP ranks with EP)")
              ] = 1,
    precision: PrecisionOpt = "bf16",
    kv_precision: KvOpt = None,
    engine: EngineOpt = None,
    speculative: SpecOpt = None,
    images: ImagesOpt = None,
    power_limit: PowerOpt = None,
    arrival: Annotated[str, typer.Option(help="poisson, gamma (bursty, see --cv), constant (1/rate "
                                                        "apart, as load generators' fixed schedules) or concurrency "
                                                        "(closed loop)")
                       ] = "poisson",
    rate: Annotated[float | None, typer.Option(help="arrival rate, requests per second (alone: Poisson)")] = None,
    cv: Annotated[float | None, typer.Option(help="coefficient of variation of gaps, gamma arrivals")] = None,
    concurrency: Annotated[int | None, typer.Option(help="closed loop: clients, each sending its next request "
                                                         "when the last one finishes")] = None,
    input: Annotated[str, typer.Option("--input", "--input-dist", help="prompt tokens: N, fixed:N, "
                                       "uniform:low=A,high=B, lognormal:mean=M,sigma=S, empirical:FILE")] = "1024",
    output: Annotated[str, typer.Option("--output", "--output-dist", help="generated tokens, same forms as "
                                        "--input")] = "128",
    trace: Annotated[str | None, typer.Option(help="CSV of arrival_s,input_tokens,output_tokens (replaces the "
                                                   "arrival and length options)")] = None,
    requests: Annotated[int, typer.Option(help="requests to simulate")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same output")] = 0,
    slo: Annotated[str | None, typer.Option(help="limits, e.g. ttft_p99=2s,tpot_p99=60ms (p50/p90/p99/mean of "
                                                 "ttft, tpot, e2e)")] = None,
    disaggregate: Annotated[str | None, typer.Option(help="P:D prefill and decode instances (each tp x pp "
                                                          "chips), KV sent between them")] = None,
    router: Annotated[str, typer.Option(help="least-loaded or round-robin over replicas")] = "least-loaded",
    prefix_hit: Annotated[float, typer.Option("--prefix-hit", help="share of each prompt already in the prefix "
                                                                   "cache, 0-1")] = 0.0,
    max_seqs: Annotated[int | None, typer.Option("--max-seqs", help="max concurrent sequences per instance "
                                                     "(default: the engine's)")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="token budget per iteration (chunked "
                                                                        "prefill), default 8192")] = None,
    per_request: Annotated[str | None, typer.Option("--per-request", help="write one CSV row per request here")
                           ] = None,
    calibration: CalOpt = None,
    force: Annotated[bool, typer.Option(help="run a simulation estimated at more than 300 s of work")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (none is shown with --json or when stderr "
                                                        "is not a terminal)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Simulate serving under load: TTFT/TPOT/end-to-end percentiles (ms, s), throughput, goodput, KV use."""
    from math import inf

    from suanli.api import simulate as run
    from suanli.api import write_requests
    from suanli.perf.factors import load_calibration
    from suanli.schema.files import output_path
    from suanli.serve.api import WORK_LIMIT_S

    cal = load_calibration(calibration) if calibration else None
    if per_request:
        output_path(per_request, "per-request")  # before the simulation, not after
    from suanli.report.progress import progress

    with progress("simulating requests", requests, quiet or as_json) as tick:
        summary, result = run(model, system, tp=tp, pp=pp, ep=ep, dp=dp, precision=precision,
                              kv_precision=kv_precision, engine=engine, arrival=arrival, rate=rate, cv=cv,
                              concurrency=concurrency, input=input, output=output, trace=trace, requests=requests,
                              seed=seed, slo=slo, disaggregate=disaggregate, router=router, prefix_hit=prefix_hit,
                              max_seqs=max_seqs, max_tokens=max_tokens, calibration=cal, speculative=speculative,
                              images=images, power_limit=power_limit, max_work_s=inf if force else WORK_LIMIT_S,
                              on_done=tick)
    if per_request:
        write_requests(result, per_request)
    if as_json:
        emit_json(summary)
        return
    render(summary)


def render(s: dict) -> None:
    d = s["deployment"]
    mode = f"disaggregated {s['disaggregate'][0]}:{s['disaggregate'][1]}" if s["disaggregate"] else "colocated"
    out.print(f"[bold]{s['model']}[/] on [bold]{s['system']}[/] ({s['chips']} chips, tp={d['tp']} pp={d['pp']} "
              f"ep={d['ep']} dp={d['dp']}, {d['precision']}, {mode}): {s['completed']}/{s['requests']} requests "
              f"completed, {s['simulated_s']:.1f} s simulated in {s['wall_s']:.2f} s")
    t = Table(title="Latency (steady-state window)")
    for col in ("metric", "mean", "p50", "p90", "p99"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for key, label in (("ttft_ms", "TTFT ms"), ("tpot_ms", "TPOT ms"), ("e2e_s", "end-to-end s")):
        v = s[key]
        t.add_row(label, *(f"{v[k]:.2f}" if v[k] is not None else "-" for k in ("mean", "p50", "p90", "p99")))
    out.print(t)
    parts = s.get("ttft_parts_ms")
    if parts:
        out.print("Mean TTFT by part: " + ", ".join(f"{k} {parts[k]:.1f} ms" for k in
                                                      ("host", "admission", "prefill", "transfer") if parts[k] > 0.05)
                  + " (host: the engine's front end; admission: waiting behind other prompts, the running step and, "
                    "with overlap scheduling, the prepared one)")
    if s.get("steady_state") is False:
        out.print(f"[yellow]Not a steady state:[/] {s['steady_state_note']}")
    if s.get("clients_start"):
        out.print(f"Closed loop: clients start {s['clients_start']}")
    th = s["throughput"]
    out.print(f"Throughput: {th['requests_s']:.2f} req/s, {th['output_tok_s']:,.0f} output tok/s "
              f"({th['output_tok_s_per_chip']:,.0f} per chip), {th['total_tok_s']:,.0f} total tok/s; goodput "
              f"{s['goodput_requests_s']:.2f} req/s")
    b = s["batch_size"]
    if b:
        out.print(f"Decode batch: mean {b['mean']:.1f}, p50 {b['p50']}, p90 {b['p90']}, p99 {b['p99']}, max {b['max']};"
                  f" KV cache in use {100 * s['kv_cache_utilization']:.0f}% on average; preemptions "
                  f"{s['preemptions']}; requests in system {s['mean_in_system']:.1f} on average")
    iv = s.get("intervals") or {}
    shown = [(label, iv[k]) for label, k in (("TTFT p99 ms", "ttft_ms.p99"), ("TPOT p99 ms", "tpot_ms.p99"),
                                              ("output tok/s per chip", "throughput.output_tok_s_per_chip")) if k in iv]
    if shown:
        out.print("[P10, P90] from held-out errors: " + "; ".join(f"{label} {b['p10']:,.1f}-{b['p90']:,.1f}"
                                                                  for label, b in shown)
                  + f" ({shown[0][1]['basis']})")
    if s.get("kv_transfer_ms"):
        out.print(f"KV transfer prefill -> decode: {s['kv_transfer_ms']:.2f} ms for a mean prompt")
    if s.get("engine"):
        from suanli.report.terminal import engine_line

        out.print(f"Engine: {engine_line(s['engine'])}; at most {s['max_seqs']} sequences per instance")
    out.print(verdict(s))


def verdict(s: dict) -> str:
    b = s["batch_size"]
    util = f"decode batch {b['mean']:.0f} on average, KV cache {100 * s['kv_cache_utilization']:.0f}% full" if b \
        else "idle"
    if s.get("steady_state") is False and s.get("steady_state_note", "").startswith("overloaded"):
        return f"Verdict: overloaded: more requests arrive than the deployment completes ({util})."
    if s["completed"] < s["requests"]:
        return f"Verdict: overloaded: {s['requests'] - s['completed']} requests never finished ({util})."
    if s["slo_met"] is None:
        return f"Verdict: no SLO given; {util}."
    if s["slo_met"]:
        share = 100 * s["slo_attainment"]
        return f"Verdict: holds this load within the SLO ({share:.1f}% of requests meet it; {util})."
    return f"Verdict: misses the SLO ({100 * s['slo_attainment']:.1f}% of requests meet it; {util})."
