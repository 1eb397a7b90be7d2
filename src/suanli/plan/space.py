"""The search space of a plan and the record of one evaluated candidate.

A candidate is a deployment unit: one instance (colocated: tp x pp x dp chips serving prefill and decode), or P
prefill instances plus D decode instances of the same layout (disaggregated), with a precision for the weights and
one for the KV cache, a token budget per engine step (chunked prefill) and a cap on running sequences. The space:

* instance sizes: powers of two up to `max_chips` (default: one unit of the system, at least 64 chips where a
  scale-out network joins units), plus the unit's own size (72, 384);
* layouts (`perf.auto.layouts`): TP within the scale-up domain dividing the heads, PP over the rest, and for MoE
  models expert parallelism over the stage with attention data parallelism (dp ranks coupled by the experts'
  all-to-all); independent replicas (dp > 1 without EP) are left to the sizing, which counts instances; the
  instances of a disaggregated unit keep dp = 1;
* precisions the chip runs natively: bf16, fp8 where it has an fp8 rate (else int8 where it has int8), fp4 where
  it has fp4; KV cache bf16 or 8-bit;
* token budgets 2048 and 8192 tokens per step; caps of 1 to 1024 sequences per attention rank;
* prefill:decode ratios for disaggregated units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suanli.engines import Features
from suanli.model.arch import Arch
from suanli.model.ops import Layout
from suanli.perf.auto import layouts
from suanli.perf.factors import Calibration
from suanli.schema import Chip, System

BATCHES = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)  # sequences per rank
BUDGETS = (2048, 8192)
RATIOS = ((1, 1), (1, 2), (1, 3), (1, 4), (1, 6), (1, 8), (2, 1), (2, 3), (2, 5), (3, 1), (3, 2), (3, 4), (4, 1))
MODES = ("colocated", "disaggregated")
OBJECTIVES = ("throughput-per-chip", "cost", "tokens-per-joule", "chips")
DEFAULT_MAX_CHIPS = 64


@dataclass(frozen=True)
class Ask:
    """Everything a worker needs to evaluate candidates (picklable, no open resources)."""

    model: str
    input_len: int
    output_len: int
    slo: dict[str, float]  # seconds, keys as suanli.serve.workload.SLO_KEYS
    load_out_tok_s: float | None = None
    headroom: float = 0.2
    objective: str = "throughput-per-chip"
    engine: str | None = None
    calibration: Calibration | None = None
    precisions: tuple[str, ...] | None = None  # None: what each chip runs natively
    kv_precisions: tuple[str, ...] | None = None
    budgets: tuple[int, ...] = BUDGETS
    batches: tuple[int, ...] = BATCHES
    ratios: tuple[tuple[int, int], ...] = RATIOS
    modes: tuple[str, ...] = MODES
    max_chips: int | None = None
    confidence: float | None = None  # plan for the pessimistic side of the bands (plan.confidence)
    margins: dict = field(default_factory=dict)  # system -> mode -> metric -> multiplier at that confidence

    def margin(self, system: str, mode: str, metric: str) -> float:
        return self.margins.get(system, {}).get(mode, {}).get(metric, 1.0)


@dataclass(slots=True)
class Eval:
    """One evaluated candidate. Times in seconds; throughput for the whole unit (instance or P+D group)."""

    system: str
    mode: str
    tp: int
    pp: int
    ep: int
    dp: int
    precision: str
    kv_precision: str
    token_budget: int = 0
    max_batch: int = 0  # sequences an instance runs at most, over its dp ranks (the decode instance's, if split)
    prefill: int = 0  # prefill instances (disaggregated)
    decode: int = 0  # decode instances (disaggregated)
    chips: int = 0  # chips of the unit
    status: str = "ok"  # ok | memory | budget | slo_ttft | slo_tpot | slo_e2e | error
    ttft_p99: float = 0.0
    tpot_p99: float = 0.0
    ttft_mean: float = 0.0
    tpot_mean: float = 0.0
    out_tok_s: float = 0.0
    activity: float = 0.0  # mean busy fraction of the unit's chips at that throughput (for power)
    running: float = 0.0  # mean sequences running at that throughput (decoding, for a split unit)
    seqs_fit: int = 0  # sequences per rank whose KV cache fits
    note: str = ""
    limit: str = ""  # what keeps the batch from growing: memory | slo_tpot | slo_ttft | budget | grid | objective
    violation: float = 0.0  # worst ratio of a latency to its SLO limit
    instances: int = 0  # units needed for the load
    chips_needed: int = 0
    utilization: float = 0.0  # share of the sized fleet's capacity the load uses
    usd_per_mtok: float | None = None
    tokens_per_joule: float | None = None
    score: tuple = field(default_factory=tuple)  # objective, smaller is better
    simulated: bool = False
    sim: dict | None = None  # the simulator's verdict: ok, figures, runs, reason
    analytic: Eval | None = None  # the analytic record, kept when simulated figures replace it

    @property
    def instance_chips(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def per_chip(self) -> float:
        return self.out_tok_s / self.chips if self.chips else 0.0

    @property
    def tok_s_per_user(self) -> float:
        return 1.0 / self.tpot_mean if self.tpot_mean > 0 else 0.0

    @property
    def structure(self) -> tuple:
        return (MODES.index(self.mode), self.tp, self.pp, self.ep, self.dp, self.precision, self.kv_precision)

    @property
    def key(self) -> tuple:
        return (*self.structure, self.token_budget, self.max_batch, self.prefill, self.decode)

    @property
    def ratio(self) -> str | None:
        return f"{self.prefill}:{self.decode}" if self.mode == "disaggregated" else None

    def label(self) -> str:
        par = f"tp={self.tp} pp={self.pp}" + (f" ep={self.ep}" if self.ep > 1 else "") + \
            (f" dp={self.dp}" if self.dp > 1 else "")
        kv = f", kv {self.kv_precision}" if self.kv_precision != "bf16" else ""
        mode = f", disaggregated {self.ratio}" if self.mode == "disaggregated" else ""
        return f"{par} {self.precision}{kv}{mode}"


def native_precisions(chip: Chip) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(weight precisions, KV precisions) the chip runs natively."""
    rates = chip.matrix_tflops or chip.available_dtypes()
    weights = ["bf16" if rates.get("bf16") or not rates.get("fp16") else "fp16"]
    eight = "fp8" if rates.get("fp8") else "int8" if rates.get("int8") else None
    if eight:
        weights.append(eight)
    if rates.get("fp4"):
        weights.append("fp4")
    return tuple(weights), (("bf16", eight) if eight else ("bf16",))


def domain_of(system: System) -> int:
    return system.scale_up.domain if system.scale_up else system.chips_per_node


def max_chips_of(system: System, asked: int | None) -> int:
    if asked:
        return asked
    joined = system.scale_out is not None
    return max(system.chips, DEFAULT_MAX_CHIPS) if joined else system.chips


def instance_sizes(system: System, max_chips: int) -> list[int]:
    sizes, n = [], 1
    while n <= max_chips:
        sizes.append(n)
        n *= 2
    if system.chips <= max_chips and system.chips not in sizes:
        sizes.append(system.chips)
    return sorted(sizes)


def layouts_of(arch: Arch, system: System, max_chips: int, modes: tuple[str, ...],
               engine: Features | None = None) -> list[Layout]:
    """Layouts worth evaluating on this system that the engine can run (deterministic order)."""
    out = []
    for n in instance_sizes(system, max_chips):
        for lay in layouts(arch, n, domain_of(system), engine):
            colocated = "colocated" in modes and (lay.dp == 1 or lay.ep > 1)
            split = "disaggregated" in modes and lay.dp == 1
            if colocated or split:
                out.append(lay)
    return out
