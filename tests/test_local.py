"""This machine as a chip: detection, the probed chip in the catalog, the fit of its factors, the commands' errors,
and (with the `local` extra installed) a real probe and run of smollm2-135m checked against the prediction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from suanli.calibrate import localchip as lc
from suanli.catalog import catalog
from suanli.perf.factors import load_calibration
from suanli.schema import SuanliError

HAVE_LOCAL = all(find_spec(m) for m in ("torch", "transformers", "scipy"))
FACTS = {"name": "Test CPU 9000", "vendor": "amd", "arch": "x86_64", "cores": 4, "online_cpus": 4,
         "simd": ["avx2", "avx512f", "avx512_bf16"], "caches": {"L3": "32768K"}, "llc_mb": 32.0,
         "mem_total_gb": 32.0, "mem_available_gb": 30.0}
BENCH = {"best_dtype": "bf16", "gemm_tile_m": 1.0, "kernel_us": 1.0,
         "gemm": {"bf16": {"peak_tflops": 1.0, "shapes": {"square-1024": {"tflops_median": 0.8, "tflops_best": 0.9}}}},
         "weight_streaming": {"gb_s_median": 30.0}, "attention": {"prefill_tflops": 0.1, "decode_gb_s": 4.0},
         "elementwise": {"gb_s_median": 35.0}}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty user directory for each test (the catalog cache follows it)."""
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path))
    catalog.cache_clear()
    yield tmp_path
    catalog.cache_clear()


def _suanli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / "suanli")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SUANLI_HOME": str(home)})


def _probed_chip() -> dict:
    entry = lc.chip_entry(lc.CPU_CHIP, FACTS, {"bf16": 1.0, "fp32": 0.25}, 40.0, "2026-01-01", "test", ["torch x"],
                          "test chip")
    lc.write_chip(entry)
    return entry


def test_detect_cpu_reads_this_machine():
    cpu = lc.detect_cpu()
    assert cpu["cores"] >= 1 and cpu["mem_total_gb"] > 0 and cpu["name"]
    assert cpu["mem_available_gb"] <= cpu["mem_total_gb"] + 1e-6
    assert lc.fingerprint(cpu).count("|") == 2
    assert lc.other_load(lc.cpu_times())["other_cores"] >= 0


def test_unprobed_local_chip_says_run_probe(home):
    for name in ("local-cpu", "1xlocal-cpu", "local"):
        kind = "system" if name.startswith("1x") else "chip"
        with pytest.raises(SuanliError, match="suanli probe") as e:
            catalog().resolve(kind, name)
        assert "\n" not in str(e.value) and "cores" in str(e.value)
    with pytest.raises(SuanliError, match="unknown id"):  # other names keep the loader's usual message
        catalog().resolve("chip", "no-such-chip")


def test_probed_chip_is_a_cited_catalog_entry(home):
    _probed_chip()
    cat = catalog()
    chip = cat.chip("local-cpu")
    assert chip.status == "measured" and chip.family == "local-cpu" and chip.cores == 4
    assert chip.uncited() == [] and "measured on 2026-01-01" in chip.sources["measured"]
    assert cat.system("1xlocal-cpu").chip == "local-cpu" and cat.resolve("system", "2xlocal-cpu") == "2xlocal-cpu"
    assert cat.chip("local").id == "local-cpu"  # alias


@pytest.mark.skipif(find_spec("scipy") is None, reason="needs scipy (the `local` extra)")
def test_fit_recovers_physical_factors_and_checks_heldout(home):
    from suanli.calibrate.fit import FITTED, Evaluator, calibration_of, fit, split, write_calibration

    _probed_chip()
    chip = catalog().chip("local-cpu")
    truth = {"gemm_compute": 0.6, "gemm_memory": 0.7, "attn_compute": 0.08, "attn_memory": 0.04,
             "step_overhead_ms": 10.0, "kernel_us": 1.0, "elementwise_memory": 0.8, "gemm_tile_m": 1.0}
    shapes = [(1, 64, 16), (1, 512, 16), (4, 64, 16), (8, 128, 12), (16, 32, 12), (16, 192, 8), (2, 256, 16),
              (8, 256, 8), (4, 256, 64)]
    runs = [{"model": "smollm2-135m", "precision": "bf16", "engine": "transformers", "batch": b, "input": i,
             "output": o} for b, i, o in shapes]
    ev = Evaluator(chip, runs)
    for r in runs:  # "measured" = the model itself at the true factors
        r["measured"] = ev.predict(r, calibration_of(chip.family, truth))
    fit_runs, held = split(runs)
    assert held and not [r for r in held if r in fit_runs]
    res = fit(fit_runs, held, chip, {"bench": BENCH})
    f = res["factors"]
    assert all(0 < f[k] <= 1 for k in FITTED if k != "step_overhead_ms") and f["step_overhead_ms"] >= 0
    for row in res["fit_runs"] + res["heldout_runs"]:
        assert abs(row["error"]["output_tok_s"]) < 0.05 and abs(row["error"]["ttft_ms"]) < 0.1, row
    path = home / "cal.yaml"
    write_calibration(path, chip.family, res, "test")
    cal = load_calibration(path)
    assert cal.resolve("local-cpu", "transformers 5")[1] == "calibrated"
    assert cal.families["local-cpu"]["step_overhead_ms"] == pytest.approx(f["step_overhead_ms"])
    assert set(load_calibration(None).families) <= set(cal.families)  # the bundled families are kept
    r = _suanli("predict", "--model", "smollm2-135m", "--system", "1xlocal-cpu", "--batch", "4", "--input", "256",
                "--output", "64", "--calibration", str(path), "--json", home=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["factors"] == "calibrated"


def test_predict_on_unprobed_local_cpu_is_one_line(home):
    r = _suanli("predict", "--model", "smollm2-135m", "--system", "1xlocal-cpu", home=home)
    assert r.returncode == 2 and "suanli probe" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_extra_names_the_extra():
    from suanli.calibrate.probe import check_extra

    with pytest.raises(SuanliError, match=r"pip install 'suanli\[local\]'"):
        check_extra("run", ("no_such_module_suanli",))


def test_calibrate_needs_one_source(home):
    r = _suanli("calibrate", home=home)
    assert r.returncode == 2 and "--from-probe" in r.stderr
    r = _suanli("calibrate", "--from-probe", home=home)
    assert r.returncode == 2 and "suanli probe" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the `local` extra")
def test_too_large_model_is_refused_before_it_starts(home):
    t = time.perf_counter()
    r = _suanli("run", "--model", "llama-3.1-70b", "--batch", "1", home=home)
    assert r.returncode == 2, r.stderr
    assert "needs" in r.stderr and "GB" in r.stderr and "available" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and time.perf_counter() - t < 20


@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the `local` extra")
def test_cuda_without_gpu_says_so(home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for cmd in (("probe", "--device", "cuda"), ("run", "--model", "smollm2-135m", "--device", "cuda")):
        r = _suanli(*cmd, home=home)
        assert r.returncode == 2 and "no CUDA GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.local
@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the `local` extra")
def test_probe_then_run_predicts_the_run(home):
    """What the public check does: probe, then a real run, predicted from the probe. The accuracy targets (output
    tok/s within 25 %, TTFT within 35 %) and the wall times are benchmarks/bench_local.py's, which CI runs and which
    prints them: on a shared 2-core VM one run's timings move by up to half between runs (batch-1 TPOT 29 ms in one
    probe's terms, 45 ms measured a minute later), so a unit test checks a factor of two, which a broken probe or
    cost model misses by far."""
    t = time.perf_counter()
    r = _suanli("probe", "--json", home=home)
    probe_s = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["bench"]["rates_tflops"] and rec["bench"]["bandwidth"]["read_gb_s"] > 0
    t = time.perf_counter()
    r = _suanli("run", "--model", "smollm2-135m", "--input", "256", "--output", "64", "--batch", "1,4", "--json",
                home=home)
    run_s = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    print(f"\nprobe {probe_s:.1f} s (other load {rec['other_load']}), run {run_s:.1f} s (other load "
          f"{res['other_load']})")
    for row in res["runs"]:
        print(f"batch {row['batch']}: " + ", ".join(f"{k} {row['measured'][k]:.1f} vs {row['predicted'][k]:.1f} "
                                                    f"({row['error'][k]:+.1%})" for k in row["error"]))
    busy = max(rec["other_load"]["other_cores"], res["other_load"]["other_cores"])
    if busy > 0.5:  # another process shared the cores: times say nothing about this machine or the model
        pytest.skip(f"other processes kept {busy} cores busy during the measurement")
    # the wall-time targets (probe < 60 s, run < 120 s) are benchmarks/bench_local.py's: a timed unit test fails
    # whenever the test runner's other workers share the cores
    for row in res["runs"]:
        assert set(row["measured"]) >= {"ttft_ms", "tpot_ms", "output_tok_s"} and not row["in_fit"]
        for k in ("output_tok_s", "ttft_ms"):
            assert 0.5 <= row["predicted"][k] / row["measured"][k] <= 2.0, (k, row)
    runs = json.loads((home / "local" / "local-cpu.runs.json").read_text())
    assert {r["source"] for r in runs} == {"probe", "run"}
