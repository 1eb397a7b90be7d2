"""A power limit below the rated TDP (`nvidia-smi -pl`, MLPerf's MaxQ runs) slows compute on the family's power
curve and leaves memory bandwidth alone; MLPerf MaxQ rows take the limit their config set."""

import pytest

from suanli.api import predict
from suanli.catalog import catalog
from suanli.perf.factors import bundled_calibration
from suanli.perf.hardware import hardware_of, power_cap
from suanli.validate.data import load_rows
from suanli.validate.sources import setup_of

HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
          "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")
MAXQ = ("https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/NVIDIA/results/"
        "H200-SXM-141GBx8_TRT_MaxQ/llama2-70b-99.9/Server/performance/run_1/mlperf_log_summary.txt")


def _hopper():
    f, _ = bundled_calibration().resolve("nvidia-hopper", None, True)
    return catalog().chips["h200"], f


def test_power_cap_by_hand():
    """Hopper's reference part sustains 989.4 TFLOP/s at 700 W, 20 % of which does not scale: at 500 W the H200
    (rated 989.4 at 700 W) sustains 989.4 / (700 - 140) x (500 - 140) = 636 TFLOP/s, 64.3 % of its peak."""
    chip, f = _hopper()
    assert f.power_ref_w == 700.0 and f.power_ref_tflops == 989.4
    assert power_cap(chip, f) == pytest.approx(1.0)
    assert power_cap(chip, f, 500.0) == pytest.approx(360 / 560, rel=1e-6)
    assert power_cap(chip, f, 900.0) == pytest.approx(1.0)  # a limit above the TDP changes nothing


def test_limit_slows_compute_not_memory():
    chip, f = _hopper()
    system = catalog().system("8xh200")
    full, capped = hardware_of(chip, system, f), hardware_of(chip, system, f, 500.0)
    assert capped.mem_bw == full.mem_bw
    assert capped.peak["fp8"] == pytest.approx(full.peak["fp8"] * 360 / 560, rel=1e-6)


def test_prefill_slows_decode_at_batch_one_barely():
    args = dict(precision="fp8", batch=1, input=4096, output=128)
    full = predict("llama-3.1-8b", "1xh200", **args)
    capped = predict("llama-3.1-8b", "1xh200", power_limit=500, **args)
    assert capped.ttft_s > 1.15 * full.ttft_s  # compute-bound prefill (the front end's fixed cost is not)
    assert capped.tpot_s < 1.1 * full.tpot_s  # one sequence's decode streams the weights
    assert any("power limit 500 W" in n for n in capped.notes)


def test_mlperf_maxq_rows_take_their_configs_power_limit(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text(HEADER + "\n" + f"a,MLPerf Inference v4.1,{MAXQ},h200,8,llama-2-70b,fp8,fp8,trt-llm (tensorrt 10.2.0),"
                 ",,,,server,,294,,,2000,200,tpot_mean_ms,136.5,ms,\n")
    s, notes = setup_of(load_rows(p)[0])
    assert s.power_limit_w == 500.0
    assert any("power-limited to 500 W" in n for n in notes)
