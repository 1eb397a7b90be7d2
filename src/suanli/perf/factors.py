"""Efficiency factors: the achieved fraction of a chip's peaks, by op class, per chip family and engine family.

These are the only tuned numbers in suanli, and they are physical: a fraction of peak compute or bandwidth in
(0, 1], a latency in microseconds, a per-step host overhead in milliseconds. Resolution order, later wins:
built-in defaults -> `defaults` -> `physical[<chip family>]` (properties of the hardware that are not fitted, such
as the matrix tile) -> `families[<chip family>]` -> `engines[<engine key>]` -> `pairs["<family>/<engine key>"]`.
`families` describe the chip with a tuned stack (op-level evidence in `physical`, end-to-end rows of tuned stacks);
what an engine version loses on top lives in `engines` and `pairs`, keyed by its profile's factor key
(`suanli.engines`). A chip family with no entry borrows the nearest family listed in `borrow`, and the prediction
says so.

The bundled file `calibration.yaml` next to this module is what `predict` uses unless given another
(`--calibration FILE`); `suanli calibrate` writes files of the same form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path

import yaml

from suanli.perf.intervals import check_table
from suanli.schema import SuanliError
from suanli.schema.files import text_of

BUNDLED = Path(__file__).parent / "calibration.yaml"


@dataclass(frozen=True)
class Factors:
    gemm_compute: float = 0.70  # fraction of matrix peak reached by large GEMMs
    gemm_memory: float = 0.80  # fraction of memory bandwidth when a GEMM streams its weights
    gemm_tile_m: float = 64.0  # rows of one matrix-unit tile: a GEMM with fewer rows still pays for a tile
    gemm_k0: float = 0.0  # reduction length a GEMM tile's prologue/epilogue is worth: efficiency K / (K + k0)
    roofline_n: float = 0.0  # op time = (tc^n + tm^n)^(1/n): kernels near the ridge overlap imperfectly; 0 = max
    attn_compute: float = 0.50  # fraction of peak reached by prefill attention (flash attention)
    attn_memory: float = 0.70  # fraction of bandwidth reached by decode attention reading the KV cache
    moe_compute: float = 0.55  # grouped expert GEMMs, compute side
    moe_memory: float = 0.70  # grouped expert GEMMs, weight streaming
    moe_block_us: float = 0.0  # fixed cost per expert block of a blockwise MoE kernel (AWS NxD); 0 elsewhere
    # the fixed time of an engine's MoE path per layer and step, added to its expert GEMMs' roofline: a chain of
    # latency-bound kernels around them (routing, permuting tokens, quantising, combining) that does not get
    # shorter with fewer tokens; fitted per engine family on low-load MoE TPOT rows (`moe_floor` in the
    # calibration file, `validate.moe_floor`)
    moe_floor_us: float = 0.0
    fp4_compute: float = 1.0  # share of its 4-bit matrix peak a 4-bit GEMM keeps, relative to 8/16-bit GEMMs'
    #                           (block scales to apply, twice the operands per byte of on-chip bandwidth)
    elementwise_memory: float = 0.60  # norms, activations, rotary, residuals
    comm_bandwidth: float = 0.80  # fraction of link bandwidth reached as bus bandwidth by collectives
    comm_latency_us: float = 3.0  # latency of one collective phase on the scale-up fabric
    # the expert-parallel exchange (MoE dispatch and combine all-to-alls) inside one scale-up domain, measured by
    # micro-benchmarks (`validate.exchange`): each op's least time (its kernels signal and wait on every peer) and
    # the share of the link's bandwidth its copies reach; 0 = not measured (fabric latency + a launch, and
    # comm_bandwidth)
    a2a_us: float = 0.0
    a2a_bandwidth: float = 0.0
    scaleout_latency_us: float = 10.0  # latency of one collective phase across nodes
    comm_ring_us: float = 60.0  # all-reduces past the engine's own kernels (custom_ar_max_mb) run NCCL rings,
    #                             whose pipeline fill costs this much: see cost.py
    kernel_us: float = 2.0  # fixed cost per kernel (launch gaps, tails, synchronisation)
    step_overhead_ms: float = 0.5  # host work per engine step (scheduling, launching the step)
    seq_overhead_us: float = 0.0  # host work per sequence per step (scheduling, sampling, detokenising each one)
    # the first-token path outside the engine's steps (suanli.serve.analytic.host_ttft): the mean time a request
    # spends in the engine's front end (HTTP, tokenizing, handing it to the scheduler, returning the first token),
    # and the host's time per prompt token (tokenizing and preparing the input); fitted per engine family on
    # low-load TTFT rows (`first_token` in the calibration file)
    request_ms: float = 0.0
    prompt_host_us: float = 0.0
    # the engine's own share of that path, which in-process harnesses (MLPerf LoadGen SUTs, trtllm-bench) pay too:
    # handing the request to its scheduler's next pass and returning the first sampled token; fitted per engine
    # family on low-load TTFT rows of in-process harnesses (`first_token`), before the front end on the rest
    engine_request_ms: float = 0.0
    memory_utilization: float = 0.90  # share of the memory left after the weights that the engine gives the KV cache
    runtime_reserve_gb: float = 1.0  # memory taken by the runtime (context, workspaces) before the model
    # Power-limited compute (physical, not fitted): a family's full-power part sustains `power_ref_tflops` (bf16)
    # at `power_ref_w`; a part of the same family with a lower power budget sustains at most
    # power_ref_tflops / (power_ref_w - static) x (tdp - static), static = 20% of power_ref_w. 0 = no cap known.
    power_ref_w: float = 0.0
    power_ref_tflops: float = 0.0

    def check(self) -> Factors:
        for f in fields(self):
            v = getattr(self, f.name)
            fraction = f.name.endswith(("_compute", "_memory", "_bandwidth", "_utilization"))
            if fraction and not 0.0 < v <= 1.0 and not (f.name == "a2a_bandwidth" and v == 0.0):
                raise SuanliError(f"calibration: {f.name} = {v}: a fraction of peak must be in (0, 1]")
            if not fraction and v < 0:
                raise SuanliError(f"calibration: {f.name} = {v}: must be >= 0")
        return self


FACTOR_NAMES = tuple(f.name for f in fields(Factors))
FRACTION_SUFFIXES = ("_compute", "_memory", "_bandwidth", "_utilization")


@dataclass(frozen=True)
class Calibration:
    defaults: dict[str, float]
    families: dict[str, dict[str, float]]
    engines: dict[str, dict[str, float]]
    pairs: dict[str, dict[str, float]]
    borrow: dict[str, str]
    source: str = "built-in defaults"
    physical: dict[str, dict[str, float]] = field(default_factory=dict)
    # what a stack loses where it is not the vendor's tuned one and has no factors of its own on that chip: the
    # median over the measured untuned (family, engine) pairs; fractions as shares of the chip's, times absolute
    untuned: dict[str, float] = field(default_factory=dict)
    # an engine family's costs on the first-token path outside its steps (request_ms, prompt_host_us): the same
    # front end on every chip, fitted on low-load TTFT rows (suanli.validate.first_token)
    first_token: dict[str, dict[str, float]] = field(default_factory=dict)
    # an engine family's fixed MoE chain per layer (moe_floor_us), fitted on low-load MoE TPOT rows
    # (suanli.validate.moe_floor)
    moe_floor: dict[str, dict[str, float]] = field(default_factory=dict)
    # bands of measured / predicted per class of prediction, from held-out residuals (suanli.perf.intervals)
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)

    def prior(self) -> Calibration:
        """The same file without its fitted factors: what a new fit starts from."""
        return replace(self, families={}, engines={}, pairs={}, untuned={}, first_token={}, moe_floor={},
                       intervals={}, source="priors")

    def resolve(self, family: str, engine: str | None, tuned: bool = True) -> tuple[Factors, str]:
        """Factors for a chip family and an engine's factor key (`Stack.factor_key`), and a note on where they
        came from. `tuned`: whether the engine runs the vendor's tuned kernels on this family; an untuned one with
        no factors of its own here takes the median losses of the measured untuned stacks (`untuned`)."""
        fam, note = family, "calibrated"
        seen = {family}
        phys = self.physical.get(family, {})
        while fam not in self.families and fam in self.borrow:
            fam = self.borrow[fam]
            if fam in seen:
                break
            seen.add(fam)
        if fam not in self.families:
            note = f"uncalibrated: no factors for {family}; defaults used"
        elif fam != family:
            note = f"uncalibrated: prior from {fam} (a tuned stack)" + (
                f", with {family}'s own op-level figures" if phys else "")
        eng = engine or "default"
        # a family's own op-level figures (`physical`) beat what it borrows from another family's fit
        layers = [self.defaults, self.families.get(fam, {}), phys, self.engines.get(eng, {}),
                  self.pairs.get(f"{family}/{eng}", {})]
        merged: dict[str, float] = {}
        for layer in layers:
            merged.update(layer)
        if f"{family}/{eng}" in self.pairs:
            note += f"; {eng}'s own factors on {family} (fitted on its rows)"
        elif not tuned and self.untuned and eng not in self.engines:
            base = replace(Factors(), **merged)
            for k, v in self.untuned.items():
                merged[k] = getattr(base, k) * v if k.endswith(FRACTION_SUFFIXES) else v
            note += "; no factors of this engine on this chip: the median losses of measured untuned stacks"
        merged.update(self.first_token.get(eng, {}))
        merged.update(self.moe_floor.get(eng, {}))
        if merged.get("gemm_tile_m", Factors.gemm_tile_m) <= 1:
            # vector units (CPUs): no matrix tile to fill and drain, so the tile pipeline's priors (measured on
            # GPUs) do not apply unless a layer of this family says otherwise
            own = {k for layer in layers[1:] for k in layer}
            merged.update({k: 0.0 for k in ("gemm_k0", "roofline_n") if k not in own})
        return replace(Factors(), **merged).check(), note


def _table(raw: dict, key: str, path: str) -> dict[str, dict[str, float]]:
    out = {}
    table = raw.get(key) or {}
    if not isinstance(table, dict):
        raise SuanliError(f"{path}: {key} must be a mapping of names to factors, not {type(table).__name__}")
    for name, values in table.items():
        if not isinstance(values or {}, dict):
            raise SuanliError(f"{path}: {key}.{name} must be a mapping of factors, not {type(values).__name__}")
        for f, v in (values or {}).items():
            if f not in FACTOR_NAMES:
                raise SuanliError(f"{path}: {key}.{name}.{f}: unknown factor; allowed: {', '.join(FACTOR_NAMES)}")
            try:
                ok = math.isfinite(float(v)) and not isinstance(v, bool)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise SuanliError(f"{path}: {key}.{name}.{f} = {v!r}: not a finite number") from None
        out[str(name)] = {f: float(v) for f, v in (values or {}).items()}
    return out


def _mapping(raw: dict, key: str, name: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise SuanliError(f"calibration: {name}: {key} must be a mapping, not {type(value).__name__}")
    return value


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read a calibration file (YAML). None = the bundled default."""
    p = Path(path) if path else BUNDLED
    if not p.exists():
        raise SuanliError(f"calibration: file {str(p)!r} not found")
    try:
        raw = yaml.safe_load(text_of(p, "calibration")) or {}
    except yaml.YAMLError as e:
        raise SuanliError(f"calibration: {p.name} is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SuanliError(f"calibration: {p.name} must be a mapping with defaults/families/engines/pairs")
    cal = Calibration(
        defaults=_table({"d": {"defaults": raw.get("defaults") or {}}}, "d", str(p)).get("defaults", {}),
        families=_table(raw, "families", str(p)),
        engines=_table(raw, "engines", str(p)),
        pairs=_table(raw, "pairs", str(p)),
        borrow={str(k): str(v) for k, v in _mapping(raw, "borrow", p.name).items()},
        source=str(p) if path else "bundled calibration",
        physical=_table(raw, "physical", str(p)),
        untuned=_table({"u": {"untuned": raw.get("untuned") or {}}}, "u", str(p)).get("untuned", {}),
        first_token=_table(raw, "first_token", str(p)),
        moe_floor=_table(raw, "moe_floor", str(p)),
        intervals=check_table(_mapping(raw, "intervals", p.name), f"calibration: {p.name}"),
    )
    for fam in cal.families:  # every factor set must be usable on its own
        cal.resolve(fam, None)
    for eng in {*cal.engines, *cal.first_token, *cal.moe_floor}:  # and every engine's on top of a family
        cal.resolve(next(iter(cal.families), ""), eng)
    return cal


@cache
def bundled_calibration() -> Calibration:
    """The bundled factors, plus the factors `suanli calibrate --from-probe` fitted for this user's own measured
    chips ($SUANLI_HOME/local/*.calibration.yaml): only families the bundled file does not know are taken, so a
    probe of this machine calibrates predictions for it and changes nothing else."""
    import os

    cal = load_calibration(None)
    local = Path(os.environ.get("SUANLI_HOME", Path.home() / ".suanli")) / "local"
    for f in sorted(local.glob("*.calibration.yaml")) if local.is_dir() else []:
        try:
            mine = load_calibration(f)
        except SuanliError:
            continue  # a broken user file must not break every prediction; `--calibration FILE` reports it
        new = {k: v for k, v in mine.families.items() if k not in cal.families}
        pairs = {k: v for k, v in mine.pairs.items() if k.split("/")[0] in new}
        phys = {k: v for k, v in mine.physical.items() if k in new}
        if new:
            cal = replace(cal, families={**cal.families, **new}, pairs={**cal.pairs, **pairs},
                          physical={**cal.physical, **phys})
    return cal
