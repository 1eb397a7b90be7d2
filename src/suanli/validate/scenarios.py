"""From a measured row's setup to suanli's prediction of the same metric.

Rows that describe the same run (same hardware, model, layout, scenario, lengths, load) are predicted once and
every metric is read off that run. The scenarios are modelled analytically on the step-level cost model, in
steady state (continuous batching with chunked prefill: every step carries the running decodes plus its share of
new prompts, `b x input / output` prompt tokens per step for b running sequences):

* offline: the layout (unless given) and the largest batch that fit memory, for the most output tokens/s;
* server / interactive: the batch with the most throughput whose p99 TPOT and TTFT stay under the row's limits;
  p99 is read at the 99th percentile of the number in system (Poisson: b + 2.33 sqrt(b));
* concurrency: N closed-loop clients, spread over data-parallel replicas; throughput = N x output / end-to-end;
* rate: Poisson arrivals at the given rate; the number in system solves N = rate x end-to-end(N); above capacity
  the engine runs at its largest batch and the queue grows for the duration of the benchmark;
* batch: a static batch, prefilled together then decoded together (gptSessionBenchmark).
Disaggregated rows (notes "disaggregated xPyD, each worker TPn") are modelled as separate prefill and decode
pools: decode steps carry no prefill, TTFT adds the prefill pool's queue, and throughput is the smaller capacity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from math import ceil, sqrt
from pathlib import Path

import numpy as np
import yaml

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.model.shape import StepShape
from suanli.perf.auto import layouts, max_batch
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration, engine_family
from suanli.perf.predict import TOKEN_BUDGET, loaded_ttft, predict_deployed
from suanli.spec import Deployment, SuanliError, System, Workload
from suanli.validate.data import Row

DATASETS = Path(__file__).parent / "datasets.yaml"
OFFLINE_CAP = 2048  # sequences per attention rank a tuned offline engine may run
SERVING_CAP = 512
RELEASED_FORMAT = {"deepseek-r1": "fp8-block", "deepseek-v3": "fp8-block", "deepseek-v3.2": "fp8-block",
                   "gpt-oss-120b": "mxfp4", "gpt-oss-20b": "mxfp4", "kimi-k2": "fp8-block"}


@cache
def dataset_lengths() -> dict[str, dict]:
    if not DATASETS.exists():
        return {}
    return yaml.safe_load(DATASETS.read_text()) or {}


@dataclass(frozen=True)
class Setup:
    hardware: str
    n: int
    model: str
    precision: str
    kv: str | None
    engine: str
    tp: int | None
    pp: int | None
    ep: int | None
    dp: int | None
    scenario: str
    input_len: int
    output_len: int
    concurrency: int | None
    rate: float | None
    ttft_slo: float | None
    tpot_slo: float | None
    disagg: tuple[int, int, int] | None  # prefill workers, decode workers, TP per worker
    batch_cap: int | None = None  # sequences an engine instance may run (compiled batch, max-num-seqs, client cap)
    requests: int | None = None  # requests the benchmark sent, where the notes say
    attention_dp: bool = False  # the notes say MoE runs used attention data parallelism (TensorRT-LLM DEP)
    beams: int = 1  # beam search: each request decodes this many sequences from one prefilled prompt
    spread: tuple[int, int, int, int] | None = None  # lengths drawn uniformly: (input lo, hi, output lo, hi)
    e2e_slo: float | None = None  # p99 end-to-end latency limit, seconds (MLPerf GPT-J server), from the notes


# Benchmark harnesses whose prompts and outputs are drawn at random around the nominal lengths: (a phrase of the
# row's source, a phrase that excludes it, the lowest fraction of the nominal length drawn). InferenceX runs
# `benchmark_serving --random-range-ratio 0.8 --ignore-eos`: lengths uniform in [0.8 L, L] (RANDOM_RANGE_RATIO
# in github.com/SemiAnalysisAI/InferenceX/blob/00983c3e22a0489aa5f3219f4b8765f2258099fe/.github/workflows/
# benchmark-tmpl.yml). Varied lengths also keep closed-loop clients from moving in lockstep.
RANDOM_LENGTHS = (("inferencex", "not inferencex", 0.8),)


def _range_ratio(source: str) -> float | None:
    src = source.lower()
    for phrase, unless, ratio in RANDOM_LENGTHS:
        if phrase in src and unless not in src:
            return ratio
    return None


# Checkpoints whose stored format differs from the row's precision label, named in its notes: (pattern,
# precision). Meta's own FP8 releases quantize only the FFNs (see PRECISION_SOURCES["fp8-meta"]).
CHECKPOINT_SCHEMES = ((r"checkpoint meta-llama/\S*-FP8\b", "fp8-meta"),
                      # gpt-oss ships MXFP4 experts; an "FP8" label (TensorRT-LLM on Hopper) is its activations
                      (r"checkpoint has MXFP4 MoE weights", "mxfp4"))


class Skip(Exception):
    """A row suanli cannot predict, with the reason."""


def setup_of(row: Row) -> tuple[Setup, list[str]]:
    """The run a row describes, and the assumptions made to fill its gaps."""
    notes: list[str] = []
    cat = catalog()
    try:
        chip = cat.resolve("chip", row.hardware)
        model = cat.resolve("model", row.model)
    except SuanliError as e:
        raise Skip(str(e)) from None
    inp, out = row.input_len, row.output_len
    if row.metric == "prefill_tok_s" and out is None:
        out = 1  # llama-bench "pp N": a prompt of N tokens, no generation
    if row.metric == "decode_tok_s" and inp is None:
        inp = 1  # llama-bench "tg N": N tokens generated from an empty context
    ds = dataset_lengths().get(model, {})
    if "applies_to" in ds and "mlperf" in ds["applies_to"].lower() and "mlperf" not in row.source.lower():
        ds = next(iter(ds.get("other_rows", {}).values()), {})  # e.g. JetStream ShareGPT rows of llama-2-7b
    if inp is None:
        inp = ds.get("mean_input_tokens")
        status = ds.get("status", "published")
        if not inp and ds.get("assumed_mean_input_tokens"):
            inp, status = ds["assumed_mean_input_tokens"], "assumption:"
        if not inp:
            raise Skip(f"input_len empty and no published mean input length for {model}'s data set")
        notes.append(f"input_len {inp:g} = {status} data-set mean ({ds.get('dataset', '')})")
    if out is None:
        out = ds.get("mean_output_tokens")
        if not out:
            raise Skip(f"output_len empty and no published mean output length for {model}'s data set")
        notes.append(f"output_len {out:g} = data-set mean")
    precision = row.weight_precision or RELEASED_FORMAT.get(model, "bf16")
    if not row.weight_precision:
        notes.append(f"precision {precision} assumed (released checkpoint)")
    for pattern, scheme in CHECKPOINT_SCHEMES:
        if precision == "fp8" and re.search(pattern, row.notes):
            precision = scheme
            notes.append(f"precision {scheme}: the format of the checkpoint the notes name")
    disagg = None
    m = re.search(r"disaggregated (\d+)P(\d+)D, each worker TP(\d+)", row.notes)
    if m:
        disagg = tuple(int(x) for x in m.groups())
    kv = row.kv_precision or None
    if kv is None and re.search(r"KV dtype '?auto'?", row.notes):
        notes.append("kv_precision = the model's dtype (notes: KV dtype 'auto')")
    elif kv is None and precision.startswith(("fp8", "fp4", "nvfp4")) and engine_family(row.engine) == "trt-llm":
        kv = "fp8"  # TensorRT-LLM's fp8/fp4 quantization recipes quantize the KV cache to fp8 as well
        notes.append("kv_precision fp8 assumed (TensorRT-LLM fp8/fp4 recipe default)")
    cap = _batch_cap(row.notes)
    if cap:
        notes.append(f"engine batch limited to {cap} (from notes)")
    tp, pp, dp = row.tp, row.pp, row.dp
    if _through_one_api_server(row) and tp is None and pp is None and dp is None:
        tp, pp, dp = row.n_accel, 1, 1
        cap = cap or ENGINE_MAX_SEQS["vllm"]
        notes.append(f"MLPerf reference harness: one API server, so one engine over all chips (tp={tp}) at "
                     f"vLLM's default max-num-seqs {cap}")
    m = re.search(r"(\d+) (?:requests|prompts)", row.notes)
    sent = int(m.group(1)) if m else None
    adp = bool(re.search(r"attention[_ -]dp|attention data-parallel", row.notes, re.IGNORECASE))
    beams = int(ds.get("beams", 1)) if "mlperf" in row.source.lower() else 1
    if beams > 1:
        notes.append(f"beam search with {beams} beams (the benchmark's rule)")
    m = re.search(r"p99 end-to-end latency <= ([\d.]+) s", row.notes)
    e2e = float(m.group(1)) if m and row.scenario in ("server", "interactive") else None
    spread = None
    ratio = _range_ratio(row.source)
    if ratio and row.input_len and row.output_len:  # the harness draws lengths: predict at their means
        lo_in, lo_out = max(1, int(round(ratio * inp))), max(1, int(round(ratio * out)))
        spread = (lo_in, int(round(inp)), lo_out, max(1, int(round(out))))
        inp, out = (lo_in + inp) / 2, (lo_out + out) / 2
        notes.append(f"lengths uniform in [{ratio:g} L, L] (the benchmark harness's random range ratio)")
    return Setup(chip, row.n_accel, model, precision, kv, row.engine, tp, pp, row.ep,
                 dp, row.scenario, int(round(inp)), max(1, int(round(out))), row.concurrency, row.request_rate,
                 (row.ttft_slo_ms or 0) / 1e3 or None, (row.tpot_slo_ms or 0) / 1e3 or None, disagg, cap, sent,
                 adp, beams, spread, e2e), notes


CAP_PATTERNS = (r"compiled batch_size=(\d+)", r"server batch_size=(\d+)", r"max-num-seqs=(\d+)",
                r"max concurrency (\d+)")


def _through_one_api_server(row: Row) -> bool:
    """MLPerf runs of the reference implementation with a vLLM backend (systems named "...-reference-..." by
    MLCommons' CM automation): its SUT sends every query to a single OpenAI-compatible server (SUT_API.py
    asserts one `api_server`), launched without tuning flags."""
    return ("mlperf" in row.source.lower() and "-reference-" in row.url
            and engine_family(row.engine) == "vllm")


def _batch_cap(notes: str) -> int | None:
    """Batch limits a run's notes state: an engine compiled for a batch, vLLM's max-num-seqs, a client's cap."""
    caps = [int(m.group(1)) for p in CAP_PATTERNS for m in re.finditer(p, notes)]
    return min(caps) if caps else None


def system_for(chip_id: str, n: int) -> System:
    """The catalog system built on this chip that holds n chips in the fewest units, else an n-chip node."""
    cat = catalog()
    options = [s for s in cat.systems.values() if s.chip == chip_id and s.chips > 1 and not s.id[0].isdigit()]
    fitting = sorted((s for s in options if s.chips >= n), key=lambda s: s.chips)
    if fitting:
        return fitting[0]
    if options:
        return max(options, key=lambda s: s.chips)  # several units over the scale-out network
    return cat.system(f"{n}x{chip_id}")


def _deployments(s: Setup, cal: Calibration | None, chips: int | None = None,
                 layout: tuple[int, int, int, int] | None = None) -> list[Deployed]:
    cat = catalog()
    n = chips or s.n
    _, arch = model_arch(s.model)
    chip = cat.chips[s.hardware]
    system = system_for(s.hardware, n)
    base = Deployment(precision=s.precision, kv_precision=s.kv, engine=s.engine or None)
    if layout:
        options = [layout]
    elif s.tp and chips is None:
        tp, pp = s.tp, s.pp or 1
        dp = s.dp or max(1, n // (tp * pp))
        ep = s.ep or (tp * dp if arch.is_moe and s.dp and s.dp > 1 else 1)
        if arch.is_moe and s.attention_dp and not s.dp and not s.ep:  # "tp" is the group: attention DP + expert EP
            tp, dp, ep = 1, tp * dp, tp * dp
        options = [(tp, pp, ep, dp)]
    else:
        domain = system.scale_up.domain if system.scale_up else system.chips_per_node
        options = [(lay.tp, lay.pp, lay.ep, lay.dp) for lay in layouts(arch, n, domain)]
    out = []
    for tp, pp, ep, dp in options:
        try:
            out.append(Deployed(arch, chip, system, base.model_copy(update=dict(tp=tp, pp=pp, ep=ep, dp=dp)),
                                s.model, cal))
        except SuanliError as e:
            if len(options) == 1:
                raise Skip(str(e)) from None
    if not out:
        raise Skip(f"no valid layout of {s.model} on {n} x {s.hardware}")
    return out


@dataclass
class Point:
    """One steady-state operating point of a deployment."""

    batch: float  # sequences in the system, whole deployment
    step: float  # seconds per engine step
    ttft: float
    tpot: float
    out_tok_s: float  # whole deployment
    ttft_p99: float | None = None
    tpot_p99: float | None = None
    layout: tuple[int, int, int, int] | None = None  # (tp, pp, ep, dp) the prediction chose

    def metric(self, s: Setup, name: str) -> float:
        out_tok_s = self.out_tok_s
        tot = out_tok_s * (s.input_len + s.output_len) / s.output_len
        e2e = self.ttft + (s.output_len - 1) * self.tpot
        table = {
            "output_tok_s": out_tok_s, "total_tok_s": tot, "output_tok_s_per_accel": out_tok_s / s.n,
            "total_tok_s_per_accel": tot / s.n, "requests_s": out_tok_s / s.output_len,
            "ttft_mean_ms": self.ttft * 1e3, "ttft_median_ms": self.ttft * 1e3, "tpot_mean_ms": self.tpot * 1e3,
            "tpot_median_ms": self.tpot * 1e3, "itl_mean_ms": self.tpot * 1e3, "e2e_mean_s": e2e,
            "prefill_tok_s": s.input_len / self.ttft, "decode_tok_s": 1.0 / self.tpot,
            "ttft_p99_ms": (self.ttft_p99 or self.ttft) * 1e3, "tpot_p99_ms": (self.tpot_p99 or self.tpot) * 1e3,
            "e2e_p99_s": (self.ttft_p99 or self.ttft) + (s.output_len - 1) * (self.tpot_p99 or self.tpot),
        }
        return table[name]


def _tag(p: Point, dep: Deployed) -> Point:
    lay = dep.layout
    p.layout = (lay.tp, lay.pp, lay.ep, lay.dp)
    return p


def mixed_step(dep: Deployed, b: float, s: Setup, prefill_share: float = 1.0) -> float:
    """Mean step time with b running sequences per rank and their steady-state share of prompt tokens (one
    prompt per `beams` sequences: the beams of a request share its prefill)."""
    lay = dep.layout
    per_rank = b / lay.dp / lay.pp
    ctx = s.input_len + s.output_len / 2
    prompts = per_rank / s.output_len / s.beams * prefill_share
    shape = StepShape.build([(prompts, s.input_len, 0.0)] if prompts else [], [(per_rank, 1.0, ctx)], dep.windows)
    return dep.step_time(shape) * lay.pp


def steady(dep: Deployed, b: float, s: Setup) -> Point:
    """Closed system with b sequences: each step decodes all of them and prefills their replacements."""
    step = mixed_step(dep, b, s)
    chunks = ceil(s.input_len / max(1.0, TOKEN_BUDGET - b / dep.layout.dp))
    ttft = max(loaded_ttft(dep, b / dep.layout.dp, s.input_len, s.input_len + s.output_len / 2), chunks * step)
    e2e = ttft + (s.output_len - 1) * step
    return Point(b, step, ttft, step, b / s.beams * s.output_len / e2e)


def _cap(dep: Deployed, s: Setup, per_rank: int) -> int:
    b = max_batch(dep, Workload(input_len=s.input_len, output_len=s.output_len, batch=1), per_rank)
    if s.batch_cap:
        b = min(b, s.batch_cap * (s.dp or 1))  # a benchmark's one endpoint is one engine unless dp is stated
    return b


def offline(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Most throughput at the largest batch that fits; when the benchmark sent a known number of requests at
    once, the simulator replays that burst on the chosen layout (ramp-up and drain included)."""
    best, best_dep = None, None
    for dep in deps:
        b = _cap(dep, s, OFFLINE_CAP)
        if s.concurrency:  # requests submitted at once: the batch cannot exceed them
            b = min(b, s.concurrency)
        if b < 1:
            continue
        p = steady(dep, b, s)
        if s.concurrency and s.concurrency > b:  # queued requests wait for earlier waves
            waves = s.concurrency / b
            p = Point(p.batch, p.step, p.ttft + (waves - 1) / 2 * (p.ttft + (s.output_len - 1) * p.tpot), p.tpot,
                      p.out_tok_s)
        if best is None or p.out_tok_s > best.out_tok_s:
            best, best_dep = p, dep
    if best is None:
        raise Skip("does not fit in memory at any layout")
    burst = s.requests or s.concurrency
    if burst and burst <= 5000 and not fast and s.beams == 1:
        return _tag(simulated(best_dep, s, cal, burst=burst), best_dep)
    return _tag(best, best_dep)


def _p99_batch(b: float) -> float:
    return b + 2.33 * sqrt(b)


def server(deps: list[Deployed], s: Setup) -> Point:
    """Most throughput whose p99 TPOT and TTFT meet the limits (Poisson arrivals): benchmarks such as MLPerf
    score the load, so tuned servers run at the largest batch the latency limits allow."""
    best = None
    for dep in deps:
        cap = _cap(dep, s, OFFLINE_CAP)  # servers are pushed to the latency limit, not to a fixed batch
        lo, hi = 1, cap
        found = None
        while lo <= hi:  # throughput rises with the batch, latency too: bisect on the limits
            b = (lo + hi) // 2
            if _meets(dep, b, s):
                found, lo = b, b + 1
            else:
                hi = b - 1
        if found is None:
            continue
        p = steady(dep, found, s)
        hi = steady(dep, _p99_batch(found), s)
        p.ttft_p99, p.tpot_p99 = hi.ttft, hi.tpot
        if best is None or p.out_tok_s > best.out_tok_s:
            best = _tag(p, dep)
    if best is None:
        raise Skip("no batch meets the latency limits at any layout")
    return best


def _meets(dep: Deployed, b: int, s: Setup) -> bool:
    hi = _p99_batch(b)
    p = steady(dep, hi, s)
    return ((s.tpot_slo is None or p.tpot <= s.tpot_slo) and (s.ttft_slo is None or p.ttft <= s.ttft_slo)
            and (s.e2e_slo is None or p.ttft + (s.output_len - 1) * p.tpot <= s.e2e_slo))


ENGINE_MAX_SEQS = {"vllm": 256, "vllm-ascend": 256, "neuron": 32}  # engines' default max_num_seqs / batch
DEFAULT_MAX_SEQS = 2048  # TensorRT-LLM's default max_batch_size; SGLang sizes it from memory


def simulated(dep: Deployed, s: Setup, cal: Calibration | None, *, clients: int | None = None,
              rate: float | None = None, burst: int | None = None, requests: int = 500) -> Point:
    """Run the serving simulator on fixed-length requests: closed loop, Poisson arrivals, or a burst at t=0."""
    from suanli.serve.metrics import summarize
    from suanli.serve.sim import SimConfig, run
    from suanli.serve.workload import Arrivals, LengthDist, Trace

    cap = s.batch_cap or ENGINE_MAX_SEQS.get(engine_family(s.engine), DEFAULT_MAX_SEQS)
    coupled = dep.layout.dp > 1 and dep.layout.ep > 1
    cfg = SimConfig(requests=requests, seed=0, max_seqs=cap,
                    input_dist=LengthDist("fixed", {"value": s.input_len}),
                    output_dist=LengthDist("fixed", {"value": s.output_len}))
    if s.spread:
        cfg.input_dist = LengthDist("uniform", {"low": s.spread[0], "high": s.spread[1]})
        cfg.output_dist = LengthDist("uniform", {"low": s.spread[2], "high": s.spread[3]})
    if burst:
        cfg.trace = Trace(np.zeros(burst), np.full(burst, s.input_len), np.full(burst, s.output_len))
    elif clients:
        cfg.arrivals = Arrivals("concurrency", clients=clients)
    else:
        cfg.arrivals = Arrivals("poisson", rate=rate)
    spec = dep.dep.model_copy(update={"dp": 1}) if not coupled else dep.dep
    make = lambda: Deployed(dep.arch, dep.chip, dep.system, spec, dep.model_id, cal)  # noqa: E731
    sim = run(dep, make, cfg)
    res = summarize(sim, {}, dep.layout.chips)
    out_tok_s = res["throughput"]["output_tok_s"]
    if rate:  # a finite Poisson run is scored as its benchmark scores it; a steady-state window would count
        out_tok_s = _over_makespan(sim)  # the waves of completions an overloaded engine releases
    return Point(res["batch_size"].get("mean", 1.0), res["tpot_ms"]["mean"] / 1e3, res["ttft_ms"]["mean"] / 1e3,
                 res["tpot_ms"]["mean"] / 1e3, out_tok_s, res["ttft_ms"]["p99"] / 1e3,
                 res["tpot_ms"]["p99"] / 1e3)


def _over_makespan(sim) -> float:
    """Output tokens per second over the whole benchmark, first arrival to last completion: what serving
    benchmarks (vLLM's benchmark_serving, TensorRT-LLM's) report for a finite set of requests."""
    done = [r for r in sim.requests if r.finish < float("inf")]
    if not done:
        return 0.0
    span = max(r.finish for r in done) - min(r.arrival for r in sim.requests)
    return sum(r.output for r in done) / span if span > 0 else 0.0


def concurrency(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Closed loop: the analytic steady state picks the layout, the simulator runs it (waves of fixed-length
    requests that start together stay together, which sets TTFT)."""
    n = s.concurrency or 1
    best, best_dep = None, None
    for dep in deps:
        cap = _cap(dep, s, 4096)
        if cap < 1:
            continue
        b = min(n, cap)
        p = steady(dep, b, s)
        if n > b:  # clients beyond the engine's room wait in its queue
            p = Point(b, p.step, p.ttft + (n - b) / b * (p.ttft + (s.output_len - 1) * p.tpot), p.tpot, p.out_tok_s)
        if best is None or p.out_tok_s > best.out_tok_s:
            best, best_dep = p, dep
    if best is None:
        raise Skip("does not fit in memory at any layout")
    if fast:
        return _tag(best, best_dep)
    return _tag(simulated(best_dep, s, cal, clients=n, requests=min(3000, max(4 * n, 200))), best_dep)


def rate(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Poisson arrivals at the row's rate for the benchmark's number of requests (500 unless the notes say)."""
    best_dep = min(deps, key=lambda d: steady(d, 1, s).tpot)  # the lowest-latency layout
    if fast:
        return _tag(_rate_analytic([best_dep], s, s.requests or 500), best_dep)
    return _tag(simulated(best_dep, s, cal, rate=s.rate, requests=s.requests or 500), best_dep)


def _rate_analytic(deps: list[Deployed], s: Setup, requests: int = 500) -> Point:
    lam = s.rate or 0.0
    best = None
    for dep in deps:
        cap = _cap(dep, s, SERVING_CAP)
        if cap < 1:
            continue
        full = steady(dep, cap, s)
        if lam * s.output_len >= full.out_tok_s:  # overloaded: the queue grows over the run of `requests`
            span = requests / lam
            backlog_wait = (requests / (full.out_tok_s / s.output_len) - span) / 2
            p = Point(cap, full.step, full.ttft + max(0.0, backlog_wait), full.tpot, full.out_tok_s)
        else:
            b = 1.0
            for _ in range(30):  # N = rate x end-to-end(N)
                q = steady(dep, b, s)
                b = max(1.0, lam * (q.ttft + (s.output_len - 1) * q.tpot))
            q = steady(dep, b, s)
            p = Point(b, q.step, q.ttft, q.tpot, lam * s.output_len)
        if best is None or p.ttft + p.tpot < best.ttft + best.tpot:
            best = p
    if best is None:
        raise Skip("does not fit in memory at any layout")
    return best


def static_batch(deps: list[Deployed], s: Setup) -> Point:
    b = s.concurrency or 1
    best = None
    for dep in deps:
        wl = Workload(input_len=s.input_len, output_len=s.output_len, batch=b - b % dep.layout.dp or dep.layout.dp)
        p = predict_deployed(dep, wl, with_fit_search=False)
        pt = Point(b, p.tpot_s, p.ttft_s, p.tpot_s, p.output_tok_s)
        if best is None or pt.out_tok_s > best.out_tok_s:
            best = _tag(pt, dep)
    return best


def disaggregated(s: Setup, cal: Calibration | None) -> Point:
    """xPyD: prefill workers and decode workers of TPn each; decode steps carry no prompt tokens."""
    n_p, n_d, tp = s.disagg
    sub = Setup(**{**s.__dict__, "tp": tp, "pp": 1, "dp": 1, "ep": None, "disagg": None, "n": tp})
    dep = _deployments(sub, cal)[0]
    n = s.concurrency or 1
    per_decode = n / n_d
    cap = _cap(dep, s, 4096)
    b = min(per_decode, cap) if cap else per_decode
    ctx = s.input_len + s.output_len / 2
    tpot = dep.step_time(dep.decode_shape(b, ctx))
    prefill_tok_s = n_p * TOKEN_BUDGET / dep.step_time(dep.prefill_shape(1, TOKEN_BUDGET))
    ttft_alone = dep.step_time(dep.prefill_shape(1, s.input_len))
    e2e = ttft_alone + (s.output_len - 1) * tpot
    out_tok_s = min(n * s.output_len / e2e, prefill_tok_s * s.output_len / s.input_len)
    util = out_tok_s / s.output_len * s.input_len / prefill_tok_s
    ttft = ttft_alone / max(0.05, 1 - util)  # M/D/1-like wait for the prefill pool
    return Point(n, tpot, ttft, tpot, min(out_tok_s, n * s.output_len / (ttft + (s.output_len - 1) * tpot)))


SCENARIO = {"offline": offline, "server": server, "interactive": server, "batch": static_batch}


def predict_setup(s: Setup, cal: Calibration | None, fast: bool = False,
                  layout: tuple[int, int, int, int] | None = None) -> Point:
    """Predict a run. `fast`: analytic steady states only (no simulator), as calibration fits use; `layout`:
    evaluate only this (tp, pp, ep, dp) instead of searching."""
    if s.disagg:
        return disaggregated(s, cal)
    if s.beams > 1 and s.scenario not in ("offline", "server", "interactive"):
        raise Skip(f"beam search ({s.beams} beams) is modelled for offline and server runs only")
    deps = _deployments(s, cal, layout=layout)
    if s.scenario == "concurrency":
        return concurrency(deps, s, cal, fast)
    if s.scenario == "rate":
        return rate(deps, s, cal, fast)
    if s.scenario == "offline":
        return offline(deps, s, cal, fast)
    return SCENARIO[s.scenario](deps, s)
