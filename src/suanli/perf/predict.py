"""Step-level prediction: TTFT, TPOT, throughput and memory fit of a model on a system, explained op by op.

The batch is served as in a continuously batched engine in steady state: each of the `batch` sequences (split
evenly over `dp` ranks) is prefilled once and then decoded `output - 1` times. So
    TTFT   = prefill of the rank's prompts, through all pipeline stages (static batch, as gptSessionBenchmark),
             plus the engine's front end (serve/analytic.host_ttft; zero for engines without a measured one)
    TTFT loaded = one prompt joining the running batch in chunked-prefill steps (continuous batching, no queue),
             after half a running step on average and the engine's front end (`ttft_parts`: serve/analytic.py)
    TPOT   = mean decode step over the generation (Simpson's rule over the growing context), times pp stages
             (pipeline micro-batches keep every stage busy, so a token still passes every stage)
    cycle  = stage prefill time + (output - 1) x TPOT        output tok/s = batch x output / cycle
The decode step grows with context only through attention, so three evaluations give its mean exactly where
the step stays on one side of its roofline and closely otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import ceil

from suanli.perf.deployed import Deployed, TimedOp
from suanli.perf.intervals import Case, chip_and_engine, interval, load_class
from suanli.perf.memory import GB, MemoryUse
from suanli.perf.steps import TOKEN_BUDGET, loaded_chunks
from suanli.schema import Deployment, SuanliError, Workload
from suanli.serve.analytic import TtftParts

CLASSES = ("gemm", "attention", "moe", "elementwise", "comm", "overhead")


@dataclass
class Prediction:
    model: str
    system: str
    chip: str
    deployment: Deployment
    workload: Workload
    chips: int
    ttft_s: float
    tpot_s: float
    cycle_s: float
    memory: MemoryUse
    timed_from: tuple  # (Deployed, prefill shape, mid-generation decode shape): the op breakdown, when asked
    overhead_s: float
    factors_note: str
    calibration: str
    ttft_loaded_s: float = 0.0
    fewest_chips: dict | None = None
    notes: list[str] = field(default_factory=list)
    engine: dict = field(default_factory=dict)  # the stack assumed: profile, version, kernel paths, sources
    ttft_parts: TtftParts | None = None  # the loaded TTFT by part
    # what the intervals are drawn from: (band table, chip class, engine class, sequences per attention rank)
    interval_basis: tuple = ()
    bounds: dict[str, str] = field(default_factory=dict)  # figures that are bounds (a chip figure unknown): api

    @cached_property
    def prefill_ops(self) -> list[TimedOp]:
        """The prefill step op by op (computed when asked: a search never needs it)."""
        return self.timed_from[0].timed(self.timed_from[1])

    @cached_property
    def decode_ops(self) -> list[TimedOp]:
        """The decode step at mid-generation op by op."""
        return self.timed_from[0].timed(self.timed_from[2])

    @property
    def intervals(self) -> dict[str, dict]:
        """figure -> {p10, p90, basis} (perf.intervals); computed when asked, off the hot path of searches."""
        if not self.interval_basis:
            return {}
        table, chip, engine, per_rank = self.interval_basis
        out = {}
        for name, metric, value in (
                ("ttft_ms", "ttft", self.ttft_s * 1e3), ("ttft_loaded_ms", "ttft", self.ttft_loaded_s * 1e3),
                ("tpot_ms", "tpot", self.tpot_s * 1e3), ("output_tok_s", "throughput", self.output_tok_s),
                ("output_tok_s_per_chip", "throughput", self.output_tok_s / self.chips),
                ("total_tok_s", "throughput", self.total_tok_s),
                ("total_tok_s_per_chip", "throughput", self.total_tok_s / self.chips)):
            iv = interval(table, Case(metric, chip, engine, load_class(per_rank)), value)
            if iv:
                out[name] = iv
        return out

    @property
    def fits(self) -> bool:
        return self.memory.fits

    @property
    def output_tok_s(self) -> float:
        return self.workload.batch * self.workload.output_len / self.cycle_s

    @property
    def total_tok_s(self) -> float:
        w = self.workload
        return w.batch * (w.input_len + w.output_len) / self.cycle_s

    @property
    def e2e_s(self) -> float:
        return self.ttft_s + (self.workload.output_len - 1) * self.tpot_s

    def by_class(self, phase: str) -> list[dict]:
        ops = self.prefill_ops if phase == "prefill" else self.decode_ops
        rows = []
        for cls in CLASSES:
            if cls == "overhead":
                per_seq = sum(t.seconds for t in ops if t.op.op_class == "overhead")
                rows.append({"op_class": cls, "time_ms": (self.overhead_s + per_seq) * 1e3, "bound": "overhead"})
                continue
            mine = [t for t in ops if t.op.op_class == cls]
            if not mine:
                continue
            by_bound: dict[str, float] = {}
            for t in mine:
                by_bound[t.bound] = by_bound.get(t.bound, 0.0) + t.seconds
            rows.append({"op_class": cls, "time_ms": sum(by_bound.values()) * 1e3,
                         "bound": max(by_bound, key=by_bound.get)})
        return rows

    def to_dict(self) -> dict:
        w, d = self.workload, self.deployment
        breakdown = [
            {"name": t.op.name, "op_class": t.op.op_class, "phase": phase, "time_ms": t.seconds * 1e3,
             "bound": t.bound, "count": t.op.count, "gflops": t.op.flops * t.op.count / 1e9,
             "mbytes": t.op.bytes * t.op.count / 1e6, "comm_mbytes": t.op.comm_bytes * t.op.count / 1e6}
            for phase, ops in (("prefill", self.prefill_ops), ("decode", self.decode_ops)) for t in ops
        ]
        breakdown += [{"name": "step_overhead", "op_class": "overhead", "phase": p, "time_ms": self.overhead_s * 1e3,
                       "bound": "overhead", "count": 1, "gflops": 0, "mbytes": 0, "comm_mbytes": 0}
                      for p in ("prefill", "decode")]
        return {
            "model": self.model, "system": self.system, "chip": self.chip, "chips": self.chips,
            "deployment": d.model_dump(), "workload": w.model_dump(),
            "ttft_ms": self.ttft_s * 1e3, "ttft_loaded_ms": self.ttft_loaded_s * 1e3, "tpot_ms": self.tpot_s * 1e3,
            "ttft_parts_ms": self.ttft_parts.to_ms() if self.ttft_parts else None,
            "e2e_s": self.e2e_s,
            "output_tok_s": self.output_tok_s, "output_tok_s_per_chip": self.output_tok_s / self.chips,
            "total_tok_s": self.total_tok_s, "total_tok_s_per_chip": self.total_tok_s / self.chips,
            "tok_s_per_user": 1.0 / self.tpot_s if self.tpot_s else None,
            "prefill_tok_s": w.batch * w.input_len / self.ttft_s if self.ttft_s else None,
            "decode_tok_s": w.batch / self.tpot_s if self.tpot_s else None,
            "fits": self.fits, "memory_gb_per_chip": self.memory.as_gb(), "fewest_chips_to_fit": self.fewest_chips,
            "breakdown": breakdown,
            "by_class": {"prefill": self.by_class("prefill"), "decode": self.by_class("decode")},
            "factors": self.factors_note, "calibration": self.calibration, "notes": self.notes,
            "engine": self.engine, "intervals": self.intervals, "bounds": self.bounds,
        } | (self._unchecked_fit() if "fits" in self.bounds else {})

    def _unchecked_fit(self) -> dict:
        """A chip of unknown capacity: what the model needs, no capacity, free or verdict (api.bounded)."""
        m = self.memory.as_gb()
        return {"fits": None, "memory_gb_per_chip": {k: m[k] for k in ("weights", "kv_cache", "activations")}}


def predict_deployed(dep: Deployed, wl: Workload, with_fit_search: bool = True) -> Prediction:
    lay = dep.layout
    if wl.batch % lay.dp:
        raise SuanliError(f"batch={wl.batch} must be a multiple of dp={lay.dp} (sequences are split over replicas)")
    b = wl.batch / lay.dp
    n_in, n_out = wl.input_len, wl.output_len
    plan, x = dep.plan_for(b, n_in, n_out)
    fig = plan.combine(dep.plan_times(plan, x), dep.overhead_s)
    parts = TtftParts(host=plan.host, admission=fig["admission"], prefill=fig["loaded_prefill"])
    mem = dep.memory_of(b, n_in + n_out, min(b * n_in, max(TOKEN_BUDGET, n_in)))
    notes = []
    if dep.factors_note != "calibrated":
        notes.append(dep.factors_note)
    notes.extend(dep.engine_notes)
    if lay.chips > dep.system.chips:
        notes.append(f"spans {ceil(lay.chips / dep.system.chips)} units of {dep.system.id} over the scale-out network")
    fewest = None
    if not mem.fits and with_fit_search:
        fewest = fewest_chips_to_fit(dep, wl)
    basis = (dep.interval_table, *chip_and_engine(dep.factors_note, dep.stack), wl.batch / lay.dp)
    return Prediction(dep.model_id, dep.system.id, dep.chip.id, dep.dep, wl, lay.chips, fig["ttft"], fig["tpot"],
                      fig["cycle"], mem, (dep, plan.shapes[0], plan.shapes[3]), dep.overhead_s, dep.factors_note,
                      dep.calibration_source, parts.total, fewest, notes, dict(dep.engine_dict), parts, basis)


def loaded_ttft(dep: Deployed, b: float, prompt: int, context: float) -> float:
    """TTFT of one request joining a running batch of b-1 decodes: its prompt goes in token-budget chunks, each
    step also carrying the running decodes (chunked prefill), through all pipeline stages; no queueing."""
    shapes, weights = loaded_chunks(dep, b, prompt, context)
    return sum(w * dep.step_time(s) for s, w in zip(shapes, weights, strict=True)) * dep.layout.pp


def fits_with(dep: Deployed, wl: Workload) -> bool:
    b = wl.batch / dep.layout.dp
    return dep.memory(b, wl.input_len + wl.output_len, min(b * wl.input_len, max(TOKEN_BUDGET, wl.input_len))).fits


def fewest_chips_to_fit(dep: Deployed, wl: Workload, limit: int = 4096) -> dict | None:
    """The fewest chips (powers of two) whose layout holds the weights and this batch's KV cache.

    TP grows first, up to the scale-up domain (or 8 chips where the system is a single chip), then PP; MoE
    models also split their experts over the TP chips.
    """
    arch = dep.arch
    heads = [g.attn.heads for g in arch.groups if g.attn.kind in ("mha", "mla")]
    experts = min((g.mlp.experts for g in arch.groups if g.mlp.kind == "moe"), default=0)
    domain = dep.hw.domain if dep.system.chips > 1 else 8
    n = 1
    while n <= limit:
        tp = 1
        while tp * 2 <= min(n, domain) and all(h % (tp * 2) == 0 for h in heads):
            tp *= 2
        pp = n // tp
        ep = tp if experts and experts % tp == 0 else 1
        if pp <= arch.layers:
            trial = Deployment(**{**dep.dep.model_dump(), "tp": tp, "pp": pp, "ep": ep, "dp": 1})
            try:
                d = Deployed(arch, dep.chip, _wide_system(dep, n), trial, dep.model_id, stack=dep.stack)
            except SuanliError:
                d = None
            if d is not None and fits_with(d, wl.model_copy(update={"batch": wl.batch})):
                system = dep.system.id if n <= dep.system.chips else f"{n}x{dep.chip.id}"
                return {"chips": n, "tp": tp, "pp": pp, "ep": ep, "system": system}
        n *= 2
    return None


def _wide_system(dep: Deployed, chips: int):
    s = dep.system
    if chips <= s.chips:
        return s
    if s.chips == 1:
        from suanli.catalog.loader import node_of

        return node_of(dep.chip, chips, f"{chips}x{dep.chip.id}")
    return s


def not_fit_message(p: Prediction) -> str:
    m = p.memory.as_gb()
    need = m["weights"] + m["kv_cache"] + m["activations"] + m["reserve"]
    f = p.fewest_chips
    hint = (f"fewest chips that fit: {f['chips']} (tp={f['tp']} pp={f['pp']} ep={f['ep']} on {f['system']})"
            if f else "no layout of up to 4096 chips fits")
    return (f"{p.model} does not fit on {p.system} with tp={p.deployment.tp} pp={p.deployment.pp} "
            f"ep={p.deployment.ep} dp={p.deployment.dp}: needs {need:.1f} GB per chip (weights {m['weights']:.1f}, "
            f"KV {m['kv_cache']:.1f}, activations {m['activations']:.1f}, reserve {m['reserve']:.1f}), has "
            f"{m['capacity']:.1f}; {hint}")


def gb(x: float) -> float:
    return x / GB
