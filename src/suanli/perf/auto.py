"""Choosing a deployment the way a tuned engine would: layouts that fit, and the batch memory allows.

`layouts` lists the parallel layouts worth trying for a model on a number of chips: TP within the scale-up domain
dividing the heads, PP over the rest, and for MoE models expert parallelism over the stage with attention data
parallelism (DeepSeek/SGLang style) or plain TP+EP. `max_batch` is the largest batch whose KV cache fits beside
the weights. `best` evaluates each layout at its batch and keeps the one with the most output tokens per second
per chip, optionally under a TPOT limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.engines import Features, resolve_engine
from suanli.model.arch import Arch
from suanli.model.ops import Layout
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration
from suanli.perf.memory import kv_bytes_per_seq
from suanli.perf.numerics import check_layout
from suanli.perf.predict import TOKEN_BUDGET, Prediction, predict_deployed
from suanli.schema import Chip, Deployment, SuanliError, System, Workload

MAX_SEQS_PER_RANK = 512  # a tuned engine's max_num_seqs / max_batch_size order of magnitude


def _pow2_upto(n: int) -> list[int]:
    out, x = [], 1
    while x <= n:
        out.append(x)
        x *= 2
    return out


def layouts(arch: Arch, chips: int, domain: int, engine: Features | None = None) -> list[Layout]:
    """Valid layouts using exactly `chips` chips that the engine can run: experts split over chips only with
    its expert parallelism, and over attention data-parallel ranks only with its attention DP."""
    out = []
    moe = arch.is_moe
    experts = min((g.mlp.experts for g in arch.groups if g.mlp.kind == "moe"), default=0)
    for tp in _pow2_upto(min(chips, max(domain, 1))):
        if chips % tp:
            continue
        rest = chips // tp
        for pp in _pow2_upto(rest):
            dp = rest // pp
            if tp * pp * dp != chips:
                continue
            options = [Layout(tp, pp, 1, dp)]
            if moe:  # no expert parallelism, or the widest the stage and the expert count allow
                stage = tp * dp
                widest = max(ep for ep in _pow2_upto(stage) if stage % ep == 0 and experts % ep == 0)
                options = [Layout(tp, pp, ep, dp) for ep in sorted({1, widest})]
            if engine is not None:
                options = [lay for lay in options if lay.ep == 1 or (
                    engine.expert_parallel and (lay.dp == 1 or engine.attention_dp))]
            for lay in options:
                try:
                    check_layout(arch, lay, arch.name)
                except SuanliError:
                    continue
                out.append(lay)
    return out


def max_batch(dep: Deployed, wl: Workload, cap: int = MAX_SEQS_PER_RANK) -> int:
    """Largest total batch (over dp ranks) whose KV cache fits beside weights and activations; 0 if none."""
    ctx = wl.input_len + wl.output_len
    per_seq = kv_bytes_per_seq(dep.arch, dep.layout, dep.numerics, ctx)
    step_tokens = max(TOKEN_BUDGET, wl.input_len)
    mem = dep.memory(0, ctx, step_tokens)
    room = mem.free
    if room <= 0:
        return 0
    b = int(room // per_seq) if per_seq > 0 else cap
    b = min(b, cap)
    while b > 0 and not dep.memory(b, ctx, min(b * wl.input_len, step_tokens)).fits:
        b -= max(1, b // 16)
    return max(0, b) * dep.layout.dp


@dataclass
class Choice:
    prediction: Prediction
    layout: Layout
    batch: int
    prediction_dep: Deployed | None = None  # the deployment it was made on


def best(arch: Arch, model_id: str, chip: Chip, system: System, chips: int, base: Deployment, wl: Workload,
         calibration: Calibration | None = None, batch: int | None = None, tpot_limit_s: float | None = None,
         cap: int = MAX_SEQS_PER_RANK) -> Choice | None:
    """Best layout on `chips` chips by output tok/s per chip (under a TPOT limit if given)."""
    top: Choice | None = None
    domain = system.scale_up.domain if system.scale_up else system.chips_per_node
    blocker: SuanliError | None = None
    built = 0
    engine = resolve_engine(base.engine, chip.family)
    for lay in layouts(arch, chips, domain, engine.features):
        dep_spec = base.model_copy(update={"tp": lay.tp, "pp": lay.pp, "ep": lay.ep, "dp": lay.dp})
        try:
            dep = Deployed(arch, chip, system, dep_spec, model_id, calibration, engine)
        except SuanliError as e:
            blocker = blocker or e
            continue
        built += 1
        b = batch if batch else max_batch(dep, wl, min(cap, engine.features.max_num_seqs))
        b -= b % lay.dp
        if b <= 0:
            continue
        pred = predict_deployed(dep, wl.model_copy(update={"batch": b}), with_fit_search=False)
        if tpot_limit_s is not None and pred.tpot_s > tpot_limit_s:
            pred = _shrink_to_tpot(dep, wl, b, tpot_limit_s)
            if pred is None:
                continue
        if not pred.fits:
            continue
        if top is None or pred.output_tok_s / chips > top.prediction.output_tok_s / chips:
            top = Choice(pred, lay, pred.workload.batch, dep)
    if top is None and built == 0 and blocker is not None:
        raise blocker  # nothing could even be laid out: say why (an unknown figure, no link), not "does not fit"
    return top


def _shrink_to_tpot(dep: Deployed, wl: Workload, b: int, limit: float) -> Prediction | None:
    """Largest batch (bisection) whose TPOT stays under the limit."""
    lo, hi, found = dep.layout.dp, b, None
    while lo <= hi:
        mid = (lo + hi) // 2
        mid -= mid % dep.layout.dp
        if mid <= 0:
            break
        p = predict_deployed(dep, wl.model_copy(update={"batch": mid}), with_fit_search=False)
        if p.tpot_s <= limit:
            found, lo = p, mid + dep.layout.dp
        else:
            hi = mid - dep.layout.dp
    return found
