"""Serving simulator: queueing identities, limits that must match the step model, and clean errors."""

import json

import pytest

from suanli.api import predict, simulate
from suanli.schema import SuanliError

BASE = dict(model="llama-3.1-8b", system="1xh100-sxm", precision="fp8")


def test_low_rate_reproduces_single_request_latency():
    p = predict(**BASE, batch=1, input=1024, output=128)
    s, _ = simulate(**BASE, rate=0.05, input="1024", output="128", requests=1000, seed=1)
    assert s["ttft_ms"]["mean"] == pytest.approx(p.ttft_loaded_s * 1e3, rel=0.03)  # its front end included
    assert s["tpot_ms"]["p50"] == pytest.approx(p.tpot_s * 1e3, rel=0.02)


def test_littles_law_in_steady_state():
    s, _ = simulate(**BASE, rate=20, input="lognormal:mean=1000,sigma=0.5", output="lognormal:mean=200,sigma=0.5",
                    requests=6000, seed=2)
    little = s["throughput"]["requests_s"] * s["e2e_s"]["mean"]
    assert s["mean_in_system"] > 1
    assert little == pytest.approx(s["mean_in_system"], rel=0.05)


def test_throughput_saturates_at_static_max_batch():
    """Far above capacity the engine runs full batches: output tok/s approaches predict at that batch."""
    s, _ = simulate(**BASE, rate=1000, input="512", output="256", requests=4000, seed=3, max_seqs=128)
    p = predict(**BASE, batch=128, input=512, output=256)
    assert s["batch_size"]["p50"] == 128
    assert s["throughput"]["output_tok_s"] == pytest.approx(p.output_tok_s, rel=0.15)
    low, _ = simulate(**BASE, rate=2, input="512", output="256", requests=400, seed=3, max_seqs=128)
    assert low["throughput"]["output_tok_s"] < s["throughput"]["output_tok_s"]


def test_disaggregation_adds_kv_transfer_to_ttft():
    kw = dict(model="llama-3.1-70b", system="dgx-h100", tp=2, precision="fp8", rate=0.02, input="2048",
              output="64", requests=60, seed=4)
    colo, _ = simulate(**kw)
    dis, _ = simulate(**kw, disaggregate="1:1")
    assert dis["kv_transfer_ms"] > 0
    assert dis["ttft_ms"]["p50"] == pytest.approx(colo["ttft_ms"]["p50"] + dis["kv_transfer_ms"], rel=0.05)


def test_preemptions_only_when_kv_demand_exceeds_capacity():
    # 8 sequences of 2k tokens fit easily: no preemption
    s, _ = simulate(**BASE, concurrency=8, input="1024", output="1024", requests=40, seed=5)
    assert s["preemptions"] == 0
    # 405B on 8 H100s leaves little cache; 256 long sequences cannot all fit
    s, _ = simulate(model="llama-3.1-405b", system="dgx-h100", tp=8, precision="fp8", concurrency=256,
                    input="4096", output="2048", requests=300, seed=5)
    assert s["preemptions"] > 0


def test_same_seed_same_output():
    a, _ = simulate(**BASE, rate=5, input="lognormal:mean=800,sigma=0.7", output="uniform:low=10,high=300",
                    requests=300, seed=7)
    b, _ = simulate(**BASE, rate=5, input="lognormal:mean=800,sigma=0.7", output="uniform:low=10,high=300",
                    requests=300, seed=7)
    drop = ("wall_s", "sim_to_wall")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def test_goodput_and_slo():
    s, _ = simulate(**BASE, rate=2, input="512", output="128", requests=200, slo="ttft_p99=2s,tpot_p99=60ms")
    assert s["slo_met"] is True and s["goodput_requests_s"] > 0
    s, _ = simulate(**BASE, rate=2, input="512", output="128", requests=200, slo="tpot_p99=1ms")
    assert s["slo_met"] is False


@pytest.mark.parametrize("kwargs,needle", [
    (dict(rate=0), "rate"), (dict(rate=-1), "rate"),
    (dict(rate=1, slo="ttft_p99=fast"), "slo"), (dict(rate=1, slo="latency=2s"), "slo"),
    (dict(rate=1, input="gaussian:mean=3"), "unknown distribution"),
    (dict(rate=1, disaggregate="1-3"), "disaggregate"),
])
def test_bad_inputs(kwargs, needle):
    with pytest.raises(SuanliError, match=needle):
        simulate(**BASE, requests=10, **kwargs)


def test_trace_errors_name_the_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens\n0,100,10\n1,abc,10\n")
    with pytest.raises(SuanliError, match="line 3"):
        simulate(**BASE, trace=str(p))
    p.write_text("arrival_s,input_tokens,output_tokens\n2,100,10\n1,100,10\n")
    with pytest.raises(SuanliError, match="sorted"):
        simulate(**BASE, trace=str(p))
    p.write_text("arrival_s,input_tokens\n0,100\n")
    with pytest.raises(SuanliError, match="lacks a column"):
        simulate(**BASE, trace=str(p))


def test_trace_replay_and_cli(cli, tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens\n" + "".join(f"{i * 0.5},{200 + i},{20 + i}\n"
                                                                    for i in range(40)))
    per = tmp_path / "per.csv"
    r = cli("simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--precision", "fp8", "--trace", str(p),
            "--per-request", str(per), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    for k in ("ttft_ms", "tpot_ms", "e2e_s"):
        assert set(j[k]) >= {"mean", "p50", "p90", "p99"}
    assert set(j["throughput"]) >= {"requests_s", "output_tok_s", "total_tok_s"}
    for k in ("goodput_requests_s", "slo_met", "kv_cache_utilization", "preemptions", "mean_in_system",
              "simulated_s", "wall_s"):
        assert k in j
    assert j["completed"] == 40
    assert len(per.read_text().splitlines()) == 41
    r = cli("simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--rate", "2", "--requests", "50",
            "--slo", "ttft_p99=2s,tpot_p99=60ms")
    assert r.returncode == 0 and "Verdict" in r.stdout
    r = cli("simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--rate", "0", "--requests", "5")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_memory_pressure_does_not_livelock():
    """32 clients of 9k tokens on one H200 with a 70B model: only ~19 fit in a bf16 cache. The newest request is
    preempted now and then, but it must not be readmitted into the space it just freed and preempted again at
    every step (that livelock once gave a TPOT of a second and 37 preemptions per request)."""
    s, _ = simulate(model="llama-3.1-70b", system="1xh200", precision="fp8", concurrency=32, input="8192",
                    output="1024", requests=200, seed=6)
    assert s["preemptions"] < 200  # fewer than one per request
    single = predict(model="llama-3.1-70b", system="1xh200", precision="fp8", batch=20, input=8192, output=1024)
    # decode steps of ~20 sequences plus the 8k-token prefills that join them (one per ~50 steps, ~1 s each);
    # the livelock gave 1000 ms
    assert s["tpot_ms"]["p50"] < 2.0 * single.tpot_s * 1e3


def test_burst_throughput_is_scored_over_the_makespan(tmp_path):
    """Throughput benchmarks send every request at t=0 and divide by the elapsed time: so does the simulator."""
    trace = tmp_path / "burst.csv"
    trace.write_text("arrival_s,input_tokens,output_tokens\n" + "0,467,16\n" * 500)
    s, _ = simulate(model="llama-3.1-8b", system="1xh200", precision="bf16", trace=str(trace), seed=0)
    assert s["throughput"]["requests_s"] == pytest.approx(500 / s["simulated_s"], rel=1e-9)
    # prefill-bound: 500 x 467 prompt tokens cannot go faster than the bf16 peak allows (2 x 8e9 FLOPs a token)
    assert 500 * 467 * 2 * 8.0e9 / s["simulated_s"] < 989.4e12


def test_work_is_estimated_before_it_starts(cli):
    """A run estimated past the limit is refused in one line before any work (the CLI's --force lifts it); the
    estimate grows with requests, their output tokens and the instances (measured: 0.54 ms per request of 2,000
    tokens on one instance, about five times that on 1,024)."""
    from suanli.serve.api import work_estimate_s

    assert work_estimate_s(20_000, 1, 2000) == pytest.approx(20_000 * 520e-6 * (1 + 1 / 256))
    assert work_estimate_s(20_000, 1024, 2000) == pytest.approx(52.0)
    with pytest.raises(SuanliError, match="about 1 s of simulation, over the 0 s allowed"):
        simulate("llama-3.1-8b", "1xh100-sxm", rate=5, requests=2000, output="2000", max_work_s=0.5)
    summary, _ = simulate("llama-3.1-8b", "1xh100-sxm", rate=5, requests=20, max_work_s=0.5)
    assert summary["completed"] == 20
    r = cli("simulate", "-m", "llama-3.1-8b", "-s", "1024xh100-sxm", "--dp", "1024", "--requests", "200000",
            "--rate", "1000", "--output", "2000")
    assert r.returncode == 2 and "about 520 s" in r.stderr and "--force" in r.stderr and not r.stdout
