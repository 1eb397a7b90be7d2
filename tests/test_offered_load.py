"""Latency rows read at the load their benchmark sent: MLPerf's target QPS from the submitter's harness config,
guidellm's run length from its defaults."""

from dataclasses import replace
from math import ceil

import pytest

from suanli.perf.factors import bundled_calibration
from suanli.validate.data import load_rows
from suanli.validate.deploy import _deployments
from suanli.validate.scenarios import server
from suanli.validate.sources import setup_of

HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
          "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")
# NVIDIA's 8 x B200 Llama-3.1-8B Server result of MLPerf v5.1: its config's server_target_qps is 1000
B200_8B = ("https://github.com/mlcommons/inference_results_v5.1/blob/main/closed/NVIDIA/results/"
           "B200-SXM-180GBx8_TRT/llama3.1-8b/Server/performance/run_1/mlperf_log_summary.txt")


def _rows(tmp_path, *lines: str):
    p = tmp_path / "rows.csv"
    p.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return load_rows(p)


def _b200_8b(tmp_path, metric: str, notes: str = ""):
    row = _rows(tmp_path, f"a,MLPerf Inference v5.1,{B200_8B},b200,8,llama-3.1-8b,fp4,,trt-llm (tensorrt 10.11),"
                          f",,,,server,871,128,,,2000,100,{metric},1,ms,{notes}")[0]
    return setup_of(row)


def test_mlperf_latency_rows_take_the_rate_loadgen_sent(tmp_path):
    """LoadGen sends the run's target_qps (the row's notes, else the config's server_target_qps): a latency row is
    predicted there; the throughput row of the same run stays a prediction of the most the limits allow (the rate
    would be its answer)."""
    s, notes = _b200_8b(tmp_path, "tpot_mean_ms")
    assert s.rate == 1000.0 and any("server_target_qps" in n for n in notes)
    s, notes = _b200_8b(tmp_path, "ttft_p99_ms", "result: target_qps=950 (not an applied request rate)")
    assert s.rate == 950.0 and any("the result's target_qps" in n for n in notes)
    assert _b200_8b(tmp_path, "output_tok_s", "target_qps=950")[0].rate is None


def test_server_latency_at_an_offered_load_obeys_littles_law(tmp_path):
    """Below what the limits allow, the number in system is rate x end-to-end time (Little), the step is shorter
    than at the limits, and the throughput is still the limits' capacity; above it, the limits' point is kept
    (only runs that met the limits are published)."""
    s, _ = _b200_8b(tmp_path, "tpot_mean_ms")
    deps = _deployments(s, bundled_calibration())
    at_limits = server(deps, replace(s, rate=None))
    rate = 0.5 * at_limits.out_tok_s / s.output_len
    loaded = server(deps, replace(s, rate=rate))
    assert loaded.batch == pytest.approx(rate * (loaded.ttft + (s.output_len - 1) * loaded.tpot), rel=0.01)
    assert loaded.tpot < at_limits.tpot and loaded.ttft_p99 <= at_limits.ttft_p99
    assert loaded.out_tok_s == at_limits.out_tok_s and loaded.layout == at_limits.layout
    over = server(deps, replace(s, rate=2.0 * at_limits.out_tok_s / s.output_len))
    assert (over.tpot, over.ttft) == (at_limits.tpot, at_limits.ttft)


def test_guidellm_rate_runs_last_its_default_120_seconds(tmp_path):
    """guidellm 0.1's --max-seconds default: a run at 0.49 req/s sends 59 requests, unless the notes set limits."""
    engine = "vllm-neuron (optimum-neuron; guidellm 0.1.0 client)"
    default, limited = _rows(
        tmp_path,
        f"a,s,,trainium1,16,llama-3.1-8b,bf16,,{engine},16,1,1,1,rate,1500,250,,0.49,,,ttft_mean_ms,1,ms,",
        f"b,s,,trainium1,16,llama-3.1-8b,bf16,,{engine},16,1,1,1,rate,1500,250,,0.49,,,ttft_mean_ms,1,ms,"
        "--max-seconds 600")
    s, notes = setup_of(default)
    assert s.requests == ceil(0.49 * 120) == 59 and any("--max-seconds" in n for n in notes)
    assert setup_of(limited)[0].requests is None


def test_mlperf_v5_1_configs_say_whether_prompts_are_chunked(tmp_path):
    """NVIDIA's v5.1 Llama-3.1-8B config sets enable_chunked_context True (the harness's default is False): the
    run's engine splits prompts over steps, whatever the engine profile's default."""
    s, notes = _b200_8b(tmp_path, "ttft_mean_ms")
    assert dict(s.launch)["chunked_prefill"] is True
    assert any("enable_chunked_context" in n for n in notes)
