"""Running a workload for the economics: the deployment a tuned engine would pick, or the one the user fixed.

Either the layout is given (tp/pp/ep/dp) and the batch too, or, as `suanli compare` does, every layout on the
chips is tried at the largest batch that fits (or the given batch) and the one with the most output tokens per
second per chip wins. `fit_chips` grows the chip count (powers of two) until the model fits, for commands that
take a chip rather than a system (ppa, design, isoperf).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog.loader import node_of
from suanli.model.resolve import model_arch
from suanli.perf.auto import best
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration, load_calibration
from suanli.perf.predict import Prediction, not_fit_message, predict_deployed
from suanli.schema import Chip, Deployment, SuanliError, System, Workload
from suanli.schema.errors import validated

MAX_CHIPS = 1024


@dataclass
class Run:
    prediction: Prediction
    deployed: Deployed
    chip: Chip
    system: System


@dataclass
class Ask:
    """What to run: the request shape, precision, and optionally a fixed layout and batch."""

    model: str
    input: int = 1024
    output: int = 1024
    batch: int | None = None
    precision: str = "fp8"
    kv_precision: str | None = None
    engine: str | None = None
    tp: int | None = None
    pp: int | None = None
    ep: int | None = None
    dp: int | None = None
    calibration: str | None = None
    tpot_max_ms: float | None = None

    @property
    def fixed_layout(self) -> bool:
        return any(x is not None for x in (self.tp, self.pp, self.ep, self.dp))


def _cal(ask: Ask) -> Calibration | None:
    return load_calibration(ask.calibration) if ask.calibration else None


def run_on(ask: Ask, chip: Chip, system: System, chips: int | None = None) -> Run:
    """Run the ask on `chips` chips of the system (default: one unit). Raises SuanliError when it cannot."""
    model_id, arch = model_arch(ask.model)
    cal = _cal(ask)
    base = validated(Deployment, dict(tp=ask.tp or 1, pp=ask.pp or 1, ep=ask.ep or 1, dp=ask.dp or 1,
                                      precision=ask.precision, kv_precision=ask.kv_precision, engine=ask.engine),
                     "deployment")
    wl = validated(Workload, dict(input_len=ask.input, output_len=ask.output, batch=ask.batch or 1), "workload")
    if ask.fixed_layout:
        dep = Deployed(arch, chip, system, base, model_id, cal)
        if ask.batch is None:
            from suanli.perf.auto import max_batch

            wl = wl.model_copy(update={"batch": max(max_batch(dep, wl), base.dp)})
        p = predict_deployed(dep, wl)
        if not p.fits:
            raise SuanliError(not_fit_message(p))
        return Run(p, dep, chip, system)
    n = chips or system.chips
    if n < 1:
        raise SuanliError(f"chips: {n} is not allowed; give a positive number of chips")
    Deployed(arch, chip, system, base, model_id, cal)  # one chip: raises what no layout can fix (unknown figures)
    choice = best(arch, model_id, chip, system, n, base, wl, cal, ask.batch,
                  ask.tpot_max_ms / 1e3 if ask.tpot_max_ms else None)
    if choice is None:
        why = f" with TPOT under {ask.tpot_max_ms:g} ms" if ask.tpot_max_ms else ""
        raise SuanliError(f"{model_id} does not fit on {n} chip(s) of {system.id} at any layout{why} "
                          f"(batch {ask.batch or 'largest that fits'}, {ask.precision}); try more chips")
    p = choice.prediction
    return Run(p, Deployed(arch, chip, system, p.deployment, model_id, cal), chip, system)


def system_for(chip: Chip, n: int, system: System | None = None) -> System:
    """The system n chips form: the given one (joined by its scale-out network past one unit), else an n-chip node
    on the chip's own links."""
    if system is not None:
        return system
    return node_of(chip, n, f"{n}x{chip.id}")


def _linked(link) -> bool:
    return bool(link and link.bandwidth_gb_s)


def fit_chips(ask: Ask, chip: Chip, system: System | None = None, start: int | None = None) -> Run:
    """The run on the fewest chips (start, 2 x start, ...) where the model fits; raises if none up to MAX_CHIPS.
    A chip with no chip-to-chip link runs alone."""
    if start is not None and not 1 <= start <= MAX_CHIPS:
        raise SuanliError(f"chips: {start} is not allowed; give 1 to {MAX_CHIPS:,}")
    lone = system is None and not (_linked(chip.scale_up) or _linked(chip.host_link))
    n = 1 if lone else (start or (system.chips if system else 1))
    first, tried = n, n
    while n <= (1 if lone else MAX_CHIPS):
        if system is not None and n > system.chips and not (system.scale_out or chip.scale_out):
            break
        tried = n
        try:
            return run_on(ask, chip, system_for(chip, n, system), n)
        except SuanliError as e:
            if ask.fixed_layout or "does not fit" not in str(e):
                raise
        n *= 2
    span = "one chip (no chip-to-chip link is known)" if lone else f"{first} to {tried} chips"
    raise SuanliError(f"{ask.model} does not fit on {span} of {chip.id} at any layout ({ask.precision}"
                      + (f", TPOT under {ask.tpot_max_ms:g} ms" if ask.tpot_max_ms else "") + ")")
