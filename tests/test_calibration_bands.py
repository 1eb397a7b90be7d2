"""The chip's factors stay in bands micro-benchmarks justify (docs/calibration.md, eighth pass); engines' losses
stay the engines'."""

from pathlib import Path

import pytest

from suanli.perf.factors import Calibration, bundled_calibration
from suanli.validate.fit import FLOOR, compute_priors, untuned_losses
from suanli.validate.ops import best_gemm_fractions

OPS = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "ops_best_shape.csv"


def _families() -> set[str]:
    cal = bundled_calibration()
    return set(cal.families) | set(cal.physical)


def test_best_shape_gemm_efficiency_by_hand():
    # MI300X and MI325X bf16 at K = 8192: 668.4 and 784.9 of 1307.4 TFLOPS, x (1 + 416 / 8192); median of two
    best = best_gemm_fractions(OPS, 416)
    both = [668.4 / 1307.4 * (1 + 416 / 8192), 784.9 / 1307.4 * (1 + 416 / 8192)]
    assert best["amd-cdna3"] == pytest.approx(sum(both) / 2, abs=1e-3)
    assert best["intel-gaudi"] == 1.0  # capped: Gaudi 2's search reached 0.97 of peak at K = 2048


def test_large_gemm_and_streaming_factors_lie_in_their_bands():
    cal = bundled_calibration()
    best = best_gemm_fractions(OPS, 416)
    for fam in sorted(_families()):
        f, _ = cal.resolve(fam, None)
        if fam in best:
            lo, hi = 0.5 * best[fam], 1.05 * best[fam]
        else:  # vector units (CPUs, no matrix tile) reach far less of their peak in LLM GEMMs
            lo, hi = (0.15, 0.8) if f.gemm_tile_m <= 1 else (0.4, 0.95)
        assert lo <= f.gemm_compute <= hi, (fam, f.gemm_compute, lo, hi)
        assert 0.55 <= f.gemm_memory <= 0.95, (fam, f.gemm_memory)
        assert f.gemm_compute > FLOOR["compute"] and f.gemm_memory > FLOOR["memory"], fam


def test_ascend_keeps_its_op_level_figures_and_its_tutorial_stack_its_losses():
    cal = bundled_calibration()
    chip, _ = cal.resolve("huawei-ascend", None)
    tutorial, _ = cal.resolve("huawei-ascend", "vllm-ascend", tuned=False)
    assert (chip.gemm_compute, chip.gemm_memory) == (0.85, 0.8)
    assert tutorial.gemm_memory < chip.gemm_memory and tutorial.kernel_us > chip.kernel_us
    # Chinese data-centre chips borrow a tuned stack's fit, never the tutorial stack's
    for fam in ("cambricon-mlu", "kunlunxin-xpu", "metax-gpu", "alibaba-ppu", "mthreads-musa"):
        f, note = cal.resolve(fam, None)
        assert note.startswith("uncalibrated: prior from nvidia-hopper") and f.gemm_compute >= 0.5


def _cal(**kw) -> Calibration:
    base = dict(defaults={}, families={}, engines={}, pairs={}, borrow={})
    return Calibration(**{**base, **kw})


def test_compute_priors_scale_a_shape_search_by_what_tuned_stacks_keep():
    cal = _cal(families={"a": {"gemm_compute": 0.6}, "b": {"gemm_compute": 0.9}, "c": {"gemm_compute": 0.4}})
    best = {"a": 0.8, "b": 0.9, "c": 0.8, "new": 0.6}
    # ratios 0.75, 1.0, 0.5 -> median 0.75; every family searched gets 0.75 x its best shape
    assert compute_priors(cal, {"a", "b", "c"}, best) == {"a": 0.6, "b": 0.675, "c": 0.6, "new": 0.45}


def test_untuned_losses_are_shares_of_the_chip_and_apply_only_without_an_own_fit():
    cal = _cal(families={"x": {"gemm_compute": 0.8, "step_overhead_ms": 1.0},
                         "y": {"gemm_compute": 0.6, "step_overhead_ms": 1.0}},
               pairs={"x/e1": {"gemm_compute": 0.4, "step_overhead_ms": 3.0},
                      "y/e2": {"gemm_compute": 0.45, "step_overhead_ms": 5.0}})
    losses = untuned_losses(cal, {"x/e1", "y/e2"})
    assert losses["gemm_compute"] == pytest.approx((0.5 + 0.75) / 2) and losses["step_overhead_ms"] == 4.0
    cal = _cal(families=cal.families, pairs=cal.pairs, untuned=losses)
    new, note = cal.resolve("x", "e3", tuned=False)
    assert new.gemm_compute == pytest.approx(0.8 * 0.625) and new.step_overhead_ms == 4.0
    assert "untuned" in note
    assert cal.resolve("x", "e1", tuned=False)[0].gemm_compute == 0.4  # its own pair wins
    assert cal.resolve("x", "e3", tuned=True)[0].gemm_compute == 0.8  # a tuned stack is the chip
