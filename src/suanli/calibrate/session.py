"""What `suanli probe`, `suanli run` and `suanli calibrate --from-probe` do, end to end (the commands only render).

probe:     detect -> micro-benchmarks -> chip file (user catalog) -> a few short real runs of a small model ->
           factors fitted on some of them, checked on the others -> calibration file for this chip's family
run:       real runs of a catalog model -> each next to suanli's prediction for the probed chip (with the probe's
           calibration, or --calibration) -> signed errors; the runs are recorded for `calibrate --from-probe`
calibrate: refit on every recorded run of this machine (probe's and run's), every third one held out
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from suanli.calibrate import localchip as lc
from suanli.calibrate.fit import Evaluator, errors, fit, split, summary, write_calibration
from suanli.calibrate.probe import check_extra, need_torch, prepare_threads, probe_cpu, software
from suanli.perf.factors import load_calibration
from suanli.schema import SuanliError

PROBE_MODEL = "smollm2-135m"
# Short real runs the probe measures (batch, input, output): the fit set spans batch 1-16 and 32-512 prompt
# tokens (up to 3072 prompt tokens a step); the held-out set lies between them, so the fit is checked where it
# interpolates. `suanli run` shapes (e.g. input 256, output 64) are not among them.
PROBE_FIT = ((1, 64, 16), (1, 512, 16), (2, 256, 16), (4, 64, 16), (8, 128, 12), (16, 32, 12), (16, 192, 8))
PROBE_HELDOUT = ((4, 128, 16), (8, 256, 8))


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


BUSY_CORES = 0.25  # a run during which other processes kept more cores than this busy is measured again
RETRY_BUDGET_S = 10.0  # ... while the retries of one command have taken less than this


def _record(model: str, precision: str, engine: str, r, source: str, fp: str, load: dict) -> dict:
    return {"model": model, "precision": precision, "engine": engine, "batch": r.batch, "input": r.input,
            "output": r.output, "measured": r.measured(), "source": source, "when": _now(), "fingerprint": fp,
            "other_load": load}


def measure(model_id: str, precision: str, shapes, device: str, source: str, fp: str,
            prefill_reps: int = 3, progress=None) -> tuple[list[dict], dict]:
    """Real runs of a catalog model at each (batch, input, output); returns the records and timings.

    A run during which other processes kept the CPU busy (a noisy neighbour: every OpenMP barrier then waits for
    a descheduled thread) is measured again, within a time budget, and the least disturbed attempt is kept."""
    from suanli.calibrate.runner import build_model, check_fits, engine_name, generate
    from suanli.catalog import catalog
    from suanli.model.resolve import model_arch

    mid, arch = model_arch(model_id)
    for b, i, o in shapes:  # refuse before building anything
        check_fits(mid, arch, precision, b, i, o, device)
    config = catalog().models[mid].config if mid in catalog().models else None
    if config is None:
        raise SuanliError(f"run: model {model_id!r} must be a catalog model (its config.json builds the network)")
    t = time.perf_counter()
    model = build_model(config, precision, device)
    build_s = time.perf_counter() - t
    engine = engine_name()
    generate(model, 1, 32, 8, device, prefill_reps=1)  # untimed: the first forwards of a process pay start-up costs
    records, retry_s, retries = [], 0.0, 0
    for b, i, o in shapes:
        if progress:
            progress(f"{mid}: batch {b}, input {i}, output {o}")
        best = None
        while True:
            t_run, load0 = time.perf_counter(), lc.cpu_times()
            r = generate(model, b, i, o, device, prefill_reps=prefill_reps)
            load = lc.other_load(load0)
            if best is None or load["other_cores"] < best[1]["other_cores"]:
                best = (r, load)
            if load["other_cores"] <= BUSY_CORES or retry_s >= RETRY_BUDGET_S:
                break
            retry_s += time.perf_counter() - t_run
            retries += 1
            if progress:
                progress(f"  other processes kept {load['other_cores']} cores busy: measuring again")
        records.append(_record(mid, precision, engine, best[0], source, fp, best[1]))
    del model
    return records, {"build_s": build_s, "runs_s": time.perf_counter() - t - build_s, "retries": retries}


def _undisturbed(runs: list[dict], keep: int = 4) -> list[dict]:
    """Runs measured while other processes kept under 2 x BUSY_CORES busy (all of them if fewer than `keep`)."""
    calm = [r for r in runs if r.get("other_load", {}).get("other_cores", 0.0) <= 2 * BUSY_CORES]
    return calm if len(calm) >= keep else runs


def _key(r: dict) -> tuple:
    return r["model"], r["precision"], r["batch"], r["input"], r["output"]


def save_runs(chip: str, new: list[dict], replace_source: str | None = None) -> list[dict]:
    """Add runs to this chip's record: a newer run of the same shape replaces the older one (so a shape is never
    both fitted and held out); another machine's runs, and older runs of `replace_source`, are dropped."""
    fp = new[0]["fingerprint"] if new else None
    keys = {_key(r) for r in new}
    old = [r for r in lc.read_json(lc.runs_path(chip), []) if r.get("fingerprint") == fp and _key(r) not in keys]
    if replace_source:
        old = [r for r in old if r.get("source") != replace_source]
    runs = old + new
    lc.write_json(lc.runs_path(chip), runs)
    return runs


def run_probe(device: str = "cpu", threads: int | None = None, calibrate: bool = True, progress=None) -> dict:
    """Measure this machine, write its chip file, and (unless told not to) fit and save its calibration."""
    t0 = time.perf_counter()
    check_extra("probe", ("torch", "transformers") if calibrate else ("torch",))
    load0 = lc.cpu_times()
    facts = lc.detect_cpu() if device == "cpu" else {}  # before torch starts OpenMP (it may bind this thread)
    settings = prepare_threads(threads)
    torch = need_torch("probe")
    if device == "cuda":
        from suanli.calibrate.cuda import detect_gpu

        facts = detect_gpu(torch)
        chip_id, what = lc.CUDA_CHIP, "GPU"
    else:
        torch.set_num_threads(int(settings["OMP_NUM_THREADS"]))
        chip_id, what = lc.CPU_CHIP, f"{settings['OMP_NUM_THREADS']} threads"
    fp = lc.fingerprint(facts)
    if progress:
        progress(f"micro-benchmarks on {lc.describe(facts)}")
    bench = _bench(torch, facts, device, progress)
    bench_s = time.perf_counter() - t0
    day = datetime.now().date().isoformat()
    rates, bw = bench["rates_tflops"], bench["bandwidth"]
    sw = software(torch)
    method = (f"best of repeated torch.matmul per dtype over shapes up to {bench['largest_gemm']} "
              f"({', '.join(f'{d} {v:.3f}' for d, v in rates.items())} TFLOPS); memory: read of a "
              f"{bw['array_mb']:.0f} MB tensor (sum), best of repeats; {what}, torch {sw.get('torch')}")
    notes = (f"This machine as measured by `suanli probe` on {day}: matrix rates are achieved GEMM rates, not vendor "
             f"peaks. SIMD: {' '.join(facts.get('simd') or []) or '-'}. Caches: "
             f"{', '.join(f'{k} {v}' for k, v in facts.get('caches', {}).items()) or '-'}. Copy bandwidth "
             f"{bw['copy_gb_s']:.1f} GB/s. Fingerprint: {fp}.")
    entry = lc.chip_entry(chip_id, facts, rates, bw["read_gb_s"], day, method,
                          [f"torch {sw.get('torch')}", f"blas {sw.get('blas')}"], notes,
                          "cpu" if device == "cpu" else "datacenter")
    gemm = {d: {s: r["tflops_best"] for s, r in g["shapes"].items() if "tflops_best" in r}
            for d, g in bench["gemm"].items() if "shapes" in g}
    record = {"chip": chip_id, "device": device, "when": _now(), "fingerprint": fp, "machine": facts, "software": sw,
              "gemm_tflops": gemm, "peak_tflops": rates, "memory_bandwidth_gb_s": bw["read_gb_s"], "bench": bench,
              "chip_file": str(lc.write_chip(entry)), "timings_s": {"micro_benchmarks": bench_s}}
    if calibrate:
        record["calibration"] = _probe_calibration(record, progress)
    else:  # factors fitted against the previous probe's figures no longer apply; recorded runs stay for a refit
        for stale in (lc.calibration_path(chip_id), lc.fit_path(chip_id)):
            stale.unlink(missing_ok=True)
    record["timings_s"]["total"] = time.perf_counter() - t0
    record["other_load"] = lc.other_load(load0)
    lc.write_json(lc.probe_path(chip_id), record)
    return record


def _bench(torch, facts: dict, device: str, progress) -> dict:
    """The micro-benchmarks, measured again once if another process kept the CPU busy meanwhile."""
    best = None
    for _ in range(2):
        load0 = lc.cpu_times()
        if device == "cuda":
            from suanli.calibrate.cuda import probe_gpu

            bench = probe_gpu(torch, facts)
        else:
            bench = probe_cpu(torch, facts)
        bench["other_load"] = lc.other_load(load0)
        if best is None or bench["other_load"]["other_cores"] < best["other_load"]["other_cores"]:
            best = bench
        if bench["other_load"]["other_cores"] <= BUSY_CORES:
            break
        if progress:
            progress(f"  other processes kept {bench['other_load']['other_cores']} cores busy: measuring again")
    return best


def _probe_calibration(record: dict, progress) -> dict:
    """Short real runs of the probe model; fit on PROBE_FIT, check on PROBE_HELDOUT; save the calibration."""
    from suanli.catalog import catalog

    chip_id = record["chip"]
    chip = catalog().chip(chip_id)
    precision = record["bench"]["best_dtype"]
    shapes = PROBE_FIT + PROBE_HELDOUT
    runs, timings = measure(PROBE_MODEL, precision, shapes, record["device"], "probe", record["fingerprint"],
                            prefill_reps=3, progress=progress)
    record["timings_s"].update({"model_build": timings["build_s"], "real_runs": timings["runs_s"]})
    record["retried_runs"] = timings["retries"]
    save_runs(chip_id, runs, replace_source="probe")
    fit_runs, held = _undisturbed(runs[: len(PROBE_FIT)]), runs[len(PROBE_FIT):]
    t = time.perf_counter()
    result = fit(fit_runs, held, chip, record)
    record["timings_s"]["fit"] = time.perf_counter() - t
    path = lc.calibration_path(chip_id)
    write_calibration(path, chip.family, result, f"`suanli probe`: {len(fit_runs)} runs of {PROBE_MODEL} fitted, "
                                                 f"{len(held)} held out")
    return _saved(chip_id, path, {"model": PROBE_MODEL, "precision": precision, **result})


def _saved(chip_id: str, path, result: dict) -> dict:
    """Summaries of a saved fit, also written next to the calibration so `run` can tell fitted runs apart."""
    out = {"file": str(path), **result, "fit_summary": summary(result["fit_runs"]),
           "heldout_summary": summary(result["heldout_runs"])}
    if Path(path) == lc.calibration_path(chip_id):
        lc.write_json(lc.fit_path(chip_id), {"calibration": str(path), "when": _now(), **out})
    return out


def _fit_keys(chip_id: str, cal_path: str | None) -> set[tuple]:
    rec = lc.read_json(lc.fit_path(chip_id), {})
    if not cal_path or not rec.get("calibration") or Path(rec["calibration"]).resolve() != Path(cal_path).resolve():
        return set()
    return {(r["model"], r["batch"], r["input"], r["output"]) for r in rec.get("fit_runs", [])}


def run_local(model: str, batches: list[int], input: int, output: int, device: str = "cpu",
              precision: str | None = None, calibration: str | None = None, threads: int | None = None,
              repeat: int = 3, progress=None) -> dict:
    """Real runs of `model` at each batch, next to suanli's prediction for the probed chip, with signed errors."""
    chip_id = lc.CUDA_CHIP if device == "cuda" else lc.CPU_CHIP
    check_extra("run")
    if device == "cpu":  # a model too large is refused first: that needs no probe
        from suanli.calibrate.runner import check_fits
        from suanli.model.resolve import model_arch

        best = (lc.read_json(lc.probe_path(chip_id), None) or {}).get("bench", {}).get("best_dtype", "bf16")
        mid, arch = model_arch(model)
        for b in batches:
            check_fits(mid, arch, precision or best, b, input, output, device)
        probe = lc.load_probe(chip_id)  # before torch starts OpenMP: the fingerprint counts this process's cores
    settings = prepare_threads(threads)
    torch = need_torch("run")
    if device == "cuda":
        if not torch.cuda.is_available():
            from suanli.calibrate.cuda import no_gpu_error

            raise no_gpu_error(torch)
        probe = lc.load_probe(chip_id)
    else:
        torch.set_num_threads(int(settings["OMP_NUM_THREADS"]))
    from suanli.catalog import catalog

    chip = catalog().chip(chip_id)
    precision = precision or probe["bench"]["best_dtype"]
    cal_path = calibration or (str(lc.calibration_path(chip_id)) if lc.calibration_path(chip_id).exists() else None)
    cal = load_calibration(cal_path)
    shapes = [(b, input, output) for b in batches]
    load0 = lc.cpu_times()
    runs, timings = measure(model, precision, shapes, device, "run", probe["fingerprint"], repeat, progress)
    load = lc.other_load(load0)
    fitted_on = _fit_keys(chip_id, cal_path)
    ev = Evaluator(chip, runs)
    rows = []
    for r in runs:
        p = ev.predict(r, cal)
        key = (r["model"], r["batch"], r["input"], r["output"])
        rows.append({"batch": r["batch"], "input": r["input"], "output": r["output"], "measured": r["measured"],
                     "predicted": p, "error": errors(p, r["measured"]), "in_fit": key in fitted_on})
    save_runs(chip_id, runs)
    return {"model": runs[0]["model"], "precision": precision, "device": device, "runs": rows,
            "summary": summary(rows),
            "chip": {"id": chip.id, "name": chip.name, "matrix_tflops": chip.matrix_tflops,
                     "memory_bandwidth_gb_s": chip.memory.bandwidth_gb_s, "probed": probe["when"]},
            "calibration": {"source": cal.source, "factors": cal.resolve(chip.family, runs[0]["engine"])[1]},
            "engine": runs[0]["engine"], "software": software(torch), "timings_s": timings, "other_load": load}


def calibrate_from_probe(device: str = "cpu", out: str | None = None, every: int = 3) -> dict:
    """Refit this machine's factors on all its recorded runs, every `every`-th held out; save the file."""
    chip_id = lc.CUDA_CHIP if device == "cuda" else lc.CPU_CHIP
    probe = lc.load_probe(chip_id)
    runs = [r for r in lc.read_json(lc.runs_path(chip_id), []) if r.get("fingerprint") == probe["fingerprint"]]
    if not runs:
        raise SuanliError(f"calibrate: no real runs recorded for {chip_id}; run `suanli probe` (without "
                          "--no-calibrate) or `suanli run` first")
    from suanli.catalog import catalog

    chip = catalog().chip(chip_id)
    fit_runs, held = split(runs, every)
    result = fit(_undisturbed(fit_runs), held, chip, probe)
    path = lc.calibration_path(chip_id) if out is None else Path(out)
    write_calibration(path, chip.family, result, f"`suanli calibrate --from-probe`: {len(fit_runs)} runs fitted, "
                                                 f"{len(held)} held out")
    return {"chip": chip_id, **_saved(chip_id, path, result)}
