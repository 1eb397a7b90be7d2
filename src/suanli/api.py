"""The service layer: what the CLI and the web call, by id.

Each function here resolves the ids it is given (model, system, chip, engine) against the catalog, checks the plain
arguments once (one-line `SuanliError` on bad input), builds the typed objects (`Arch`, `Chip`, `System`,
`Deployment`, `Workload`) and hands them to the layers below, which never look an id up: `perf` (prediction,
comparison, stacks) and `serve` (simulation). `plan` and `econ` still resolve their own ids (issue 19's next step).
"""

from __future__ import annotations

from suanli.catalog import catalog
from suanli.engines import resolve_engine, stacks_for
from suanli.model.resolve import model_arch
from suanli.model.vision import check_images, patches_and_tokens, resized
from suanli.perf.compare import compare_units
from suanli.perf.deployed import Deployed, remember
from suanli.perf.factors import Calibration, load_calibration
from suanli.perf.predict import Prediction, predict_deployed
from suanli.perf.speculative import parse_speculative
from suanli.perf.stacks import stack_rows
from suanli.perf.vision import parse_images
from suanli.schema import Chip, Deployment, Images, Speculation, SuanliError, Workload
from suanli.schema.errors import validated
from suanli.schema.precision import default_precision
from suanli.serve import api as serving
from suanli.serve.sim import SimRun
from suanli.serve.workload import parse_dist

__all__ = ["deploy", "predict", "compare", "compare_stacks", "simulate", "write_requests"]
write_requests = serving.write_requests


def _calibration(calibration: str | Calibration | None) -> Calibration | None:
    return calibration if isinstance(calibration, Calibration) or calibration is None else \
        load_calibration(calibration)


_DEPLOYED: dict[tuple, Deployed] = {}  # the newest deployments built by `predict`, for repeated queries


def _deployed(model: str, system, chip: Chip, dep: Deployment, cal: Calibration | None, arch=None) -> Deployed:
    """A Deployed for `predict`, kept while its inputs are the same objects: catalog ids (a config.json path, or
    a config already read (`arch`), is read again each time), the catalog's chip and system, the calibration."""
    key = None
    if arch is None and "/" not in model and not model.endswith(".json"):
        key = (model, id(system), id(chip), id(cal), dep.model_dump_json())
        hit = _DEPLOYED.get(key)
        if hit is not None and hit.chip is chip and hit.system is system:
            return hit
    model_id, arch = (model, arch) if arch is not None else model_arch(model)
    d = Deployed(arch, chip, system, dep, model_id, cal)
    return remember(_DEPLOYED, key, d, 64) if key is not None else d


def models() -> list[dict]:
    """The model catalog with suanli's parameter counts beside the published ones (`suanli catalog models`,
    /api/catalog/models): the language model, its active share, and a vision tower where one is modelled."""
    from suanli.model.params import count_params
    from suanli.model.vision import tower_params

    rows = []
    for m in catalog().models.values():
        _, arch = model_arch(m.id)
        pc = count_params(arch)
        tower = arch.vision if arch.vision is not None and not arch.vision.unsupported else None
        rows.append({"id": m.id, "name": m.name, "layers": arch.layers, "hidden": arch.hidden, "moe": arch.is_moe,
                     "total_params_b": pc.total / 1e9, "active_params_b": pc.active / 1e9,
                     "vision_params_b": tower_params(tower) / 1e9 if tower else None,
                     "vision_tower": tower.kind if tower else None,
                     "published_total_b": m.published.total_params_b, "source": m.source})
    return rows


def deploy(model: str, system: str, deployment: Deployment, calibration: Calibration | None = None) -> Deployed:
    """A model (catalog id, alias or config.json path) deployed on a system (id or `<n>x<chip>`)."""
    cat = catalog()
    model_id, arch = model_arch(model)
    sys_ = cat.system(system)
    return Deployed(arch, cat.chips[sys_.chip], sys_, deployment, model_id, calibration)


# A figure the catalog lacks, taken as costing nothing (or, for capacity, as enough): the prediction is then a bound,
# and says so (`bounded`)
FREE_TFLOPS, FREE_GB_S, ENOUGH_GB = 1e9, 1e9, 1e6


def bounded(chip: Chip) -> tuple[Chip, dict[str, str]]:
    """The chip with an unknown compute rate or memory bandwidth taken as free, and which figures are then bounds:
    with no compute rate the step costs only its memory traffic and overheads (TTFT a lower bound, throughput an
    upper bound); with no bandwidth only its compute (TPOT a lower bound); with no memory capacity (a phone's RAM is
    the device's, not the chip's) the fit is not checked. Compute and bandwidth both unknown: every time is the
    engine's fixed costs alone (a lower bound), every rate an upper bound, and the fit is still checked where the
    capacity is known."""
    no_compute, no_bw = not chip.available_dtypes(), not chip.memory.bandwidth_gb_s
    missing, marks, update, memory = [], {}, {}, {}
    if no_compute:
        missing.append("matrix_tflops")
        update["matrix_tflops"] = {d: FREE_TFLOPS for d in ("fp32", "bf16", "fp16", "fp8", "int8", "fp4", "int4")}
        marks.update({"ttft_ms": "lower bound", "ttft_loaded_ms": "lower bound", "output_tok_s": "upper bound",
                      "total_tok_s": "upper bound", "prefill_tok_s": "upper bound"})
    if no_bw:
        missing.append("memory.bandwidth_gb_s")
        memory["bandwidth_gb_s"] = FREE_GB_S
        marks.update({"tpot_ms": "lower bound", "output_tok_s": "upper bound", "total_tok_s": "upper bound",
                      "decode_tok_s": "upper bound"})
    if chip.memory.capacity_gb is None:
        missing.append("memory.capacity_gb")
        memory["capacity_gb"] = ENOUGH_GB
        marks["fits"] = "not checked"
    if not missing:
        return chip, {}
    if memory:
        update["memory"] = chip.memory.model_copy(update=memory)
    return chip.model_copy(update=update), {"missing": ", ".join(missing), **marks}


def speculation(text: str | None) -> Speculation | None:
    """`--speculative METHOD:K[:A]` as a `Speculation`, its draft model (if any) resolved here like every id."""
    spec = parse_speculative(text)
    if spec is not None and spec.draft_model:
        try:
            spec._draft = model_arch(spec.draft_model)
        except SuanliError as e:
            raise SuanliError(f"speculative: draft model {spec.draft_model!r}: {e}") from None
    return spec


def image_prompt(text: str | None, model: str, input: int, arch=None) -> tuple[Images | None, int, str]:
    """`--images N[@WxH]` for a prompt of `input` text tokens: the `Images` (with the whole prompt's length), the
    prompt's tokens with the images', and a note saying how they add up. `arch`: the model, already read."""
    parsed = parse_images(text)
    if parsed is None:
        return None, input, ""
    model_id, arch = (model, arch) if arch is not None else model_arch(model)
    im = validated(Images, dict(zip(("count", "width", "height"), parsed, strict=True)), "images")
    tower = check_images(arch.vision, model_id)
    patches, tokens = patches_and_tokens(tower, im.width, im.height)
    total = input + im.count * tokens
    w, h = resized(tower, im.width, im.height)
    note = (f"prompt: {input} text tokens + {im.count} image(s) x {tokens} tokens = {total} tokens (each "
            f"{im.width}x{im.height} image run at {w}x{h}, {patches} patches of {tower.patch} px)")
    return im.model_copy(update={"prompt_tokens": total}), total, note


def predict(model: str, system: str, *, tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1,
            precision: str | None = "bf16", kv_precision: str | None = None, engine: str | None = None,
            batch: int = 1, input: int = 1024, output: int = 128,
            calibration: str | Calibration | None = None, speculative: str | None = None,
            images: str | None = None, arch=None, power_limit: float | None = None) -> Prediction:
    """Predict one deployment. `precision=None`: bf16, or the chip's own where it has no 16-bit rate
    (`default_precision`), said in the notes. `images` (`N[@WxH]`): that many images in every prompt of `input`
    text tokens. `arch`: the model's architecture already read (a posted config.json), `model` then its name. A
    chip whose compute rate or memory bandwidth the catalog lacks is
    predicted with that figure taken as free (`bounded`): the figures it bounds are named in `bounds`."""
    chosen = None
    cat = catalog()
    sys_ = cat.system(system)
    chip, bounds = bounded(cat.chips[sys_.chip])
    if precision is None:
        precision = default_precision(chip.available_dtypes())
        if precision != "bf16":
            chosen = (f"precision not given: {chip.id} publishes no 16-bit rate, so {precision} is assumed "
                      "(models quantized for it, as its SDK runs them)")
    imgs, prompt, composed = image_prompt(images, model, input, arch)
    dep = validated(Deployment, dict(tp=tp, pp=pp, ep=ep, dp=dp, precision=precision, kv_precision=kv_precision,
                                     engine=engine, speculative=speculation(speculative), images=imgs,
                                     power_limit_w=power_limit), "deployment")
    wl = validated(Workload, dict(input_len=prompt, output_len=output, batch=batch), "workload")
    p = predict_deployed(_deployed(model, sys_, chip, dep, _calibration(calibration), arch), wl)
    for note in (composed, chosen):
        if note:
            p.notes.insert(0, note)
    if bounds:
        p.bounds = bounds
        p.interval_basis = ()  # a bound has no interval: the held-out errors are of full predictions
        p.notes.insert(0, f"chip {chip.id}: {bounds['missing']} not in the catalog, so taken as free (capacity: as "
                          "enough): " + ", ".join(f"{k} is {'an' if v.startswith('upper') else 'a'} {v}"
                                                 if k != "fits" else "the memory fit is not checked"
                                                 for k, v in bounds.items() if k != "missing"))
    return p


def compare(model: str, systems: list[str], *, input: int, output: int, precision: str = "bf16",
            kv_precision: str | None = None, engine: str | None = None, batch: int | None = None,
            chips: int | None = None, tpot_limit_ms: float | None = None, rank_by: str = "tok_s_per_chip",
            calibration: Calibration | None = None, speculative: str | None = None,
            images: str | None = None, power_limit: float | None = None) -> list[dict]:
    """Systems ranked on one model and request shape, each with its best layout and batch."""
    if not systems:
        raise SuanliError("systems: give at least one system id")
    if chips is not None and chips < 1:
        raise SuanliError(f"chips: {chips} is not allowed; give a positive number of chips")
    cat = catalog()
    model_id, arch = model_arch(model)
    imgs, input, _ = image_prompt(images, model, input)
    base = validated(Deployment, dict(precision=precision, kv_precision=kv_precision, engine=engine,
                                      speculative=speculation(speculative), images=imgs,
                                      power_limit_w=power_limit), "deployment")
    wl = validated(Workload, dict(input_len=input, output_len=output, batch=batch or 1), "workload")
    units = [(s, cat.chips[s.chip]) for s in (cat.system(name) for name in systems)]  # unknown ids fail first
    return compare_units(arch, model_id, units, base, wl, batch=batch, chips=chips, tpot_limit_ms=tpot_limit_ms,
                         rank_by=rank_by, calibration=calibration)


def compare_stacks(model: str, system: str, engines: list[str] | None = None, *, input: int, output: int,
                   precision: str = "bf16", kv_precision: str | None = None, batch: int | None = None,
                   tpot_limit_ms: float | None = None, calibration: Calibration | None = None) -> list[dict]:
    """The same work on one system across engines and versions (`suanli stack`)."""
    cat = catalog()
    sys_ = cat.system(system)
    chip = cat.chips[sys_.chip]
    model_id, arch = model_arch(model)
    stacks = [resolve_engine(e, chip.family) for e in engines or stacks_for(chip.family)]  # unknown ones fail first
    base = validated(Deployment, dict(precision=precision, kv_precision=kv_precision), "deployment")
    wl = validated(Workload, dict(input_len=input, output_len=output, batch=batch or 1), "workload")
    return stack_rows(arch, model_id, sys_, chip, stacks, base, wl, batch=batch, tpot_limit_ms=tpot_limit_ms,
                      calibration=calibration)


def simulate(model: str, system: str, *, tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1,
             precision: str = "bf16", kv_precision: str | None = None, engine: str | None = None,
             calibration: str | Calibration | None = None, speculative: str | None = None,
             images: str | None = None, power_limit: float | None = None, **options) -> tuple[dict, SimRun]:
    """Serve a request stream on a deployment in the simulator (`serve.api.simulate` lists the options); `images`
    as for `predict`, with fixed-length prompts."""
    imgs = None
    if images:
        text = str(options.get("input", "1024"))
        lengths = parse_dist(text, "input")
        if lengths.kind != "fixed" or options.get("trace"):
            raise SuanliError(f"images: give a fixed prompt length (--input N) with them, not {text!r} or a trace")
        imgs, prompt, _ = image_prompt(images, model, int(lengths.mean))
        options["input"] = str(prompt)
    spec = validated(Deployment, dict(tp=tp, pp=pp, ep=ep, dp=dp, precision=precision, kv_precision=kv_precision,
                                      engine=engine, speculative=speculation(speculative), images=imgs,
                                      power_limit_w=power_limit), "deployment")
    cal = _calibration(calibration)
    return serving.simulate(lambda d: deploy(model, system, d, cal), spec, **options)
