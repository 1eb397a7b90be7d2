"""The one serving model (issue 20): the analytic steady state against the simulator, TTFT by part, the engines'
front end, and the simulator's fixes (steady-state flag, KV use within the cache, closed-loop clients apart)."""

import dataclasses
import itertools
from math import log

import numpy as np
import pytest

from suanli.api import deploy, predict, simulate
from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Factors, bundled_calibration
from suanli.plan.evaluate import Unit
from suanli.plan.space import Eval
from suanli.schema import Deployment
from suanli.serve.analytic import (
    LoadSteps,
    host_ttft,
    joined,
    mean_in_system,
    p99_in_system,
    pool_wait,
    spread_in_system,
    tail_rate,
)
from suanli.serve.metrics import summarize
from suanli.serve.sim import SimConfig, run
from suanli.serve.workload import Arrivals, LengthDist
from suanli.validate.deploy import _deployments
from suanli.validate.first_token import _solve
from suanli.validate.scenarios import _cap, _rate_analytic, simulated, steady
from suanli.validate.setup import Setup
from suanli.validate.sources.inferencex import clients_per_deployment
from suanli.validate.sources.notes import pools

BASE = dict(model="llama-3.1-8b", system="1xh100-sxm", precision="fp8")

# models and chips whose KV cache holds every request at these loads: the simulator is in steady state there; the
# chip's default engine (TensorRT-LLM, the latest release: overlap scheduling) and one that schedules in step
GRID = list(itertools.product([("llama-3.1-8b", "h100-sxm", ""), ("llama-3.1-8b", "a100-sxm", "trt-llm 0.21.0"),
                               ("qwen3-32b", "h200", "")], [(512, 128), (2048, 256)], [0.3, 0.6]))


@pytest.mark.parametrize("pair, lengths, load", GRID)
def test_analytic_steady_state_matches_the_simulator(pair, lengths, load):
    """Poisson arrivals at 30 % and 60 % of capacity: the analytic model's mean TTFT and TPOT within 10 % of the
    simulator's, the p99s within 20 %."""
    (model, chip, engine), (inp, out) = pair, lengths
    cal = bundled_calibration()
    s = Setup(chip, 1, model, "bf16", None, engine, 1, 1, 1, 1, "rate", inp, out, None, None, None, None, None)
    dep = _deployments(s, cal)[0]
    full = steady(dep, _cap(dep, s, 512), s)
    s = dataclasses.replace(s, rate=load * full.out_tok_s / out)
    a = _rate_analytic([dep], s, 4000)
    m = simulated(dep, s, cal, rate=s.rate, requests=4000)
    assert a.ttft == pytest.approx(m.ttft, rel=0.10)
    assert a.tpot == pytest.approx(m.tpot, rel=0.10)
    assert a.ttft_p99 == pytest.approx(m.ttft_p99, rel=0.20)
    assert a.tpot_p99 == pytest.approx(m.tpot_p99, rel=0.20)


def test_prompts_that_arrive_while_one_waits_join_its_step():
    """Mean step 40 ms, 20 ms without prompts, 0.5 prompts per step: each prompt takes 40 ms and they arrive at
    12.5/s. A prompt that waited 100 ms finds 1.25 more beside it (50 ms), or as many as the budget leaves room for."""
    steps = LoadSteps(0.04, 0.05, 0.02, 0.02, 0.06, 0.07)
    assert joined(steps, 0.5, 0.1) == pytest.approx(0.05)
    assert joined(dataclasses.replace(steps, room=1.0), 0.5, 0.1) == pytest.approx(0.04)
    assert joined(steps, 0.0, 0.1) == joined(steps, 0.5, 0.0) == 0.0


def test_number_in_system_percentiles_invert():
    for m, spread in itertools.product((0.5, 4.0, 100.0), (1.0, 2.5)):
        assert mean_in_system(p99_in_system(m, spread), spread) == pytest.approx(m)


def test_spread_in_system_by_hand():
    """s(N) = a + c N: variance / mean = s(N) / a. A step of 30 ms at the mean and 10 ms with one request: 3 (the
    p99 of 9 running is 9 + 2.33 sqrt(27) = 21.1, not Poisson's 16); a step that does not grow: Poisson."""
    assert spread_in_system(0.030, 0.010) == pytest.approx(3.0)
    assert p99_in_system(9.0, 3.0) == pytest.approx(9.0 + 2.33 * 27 ** 0.5)
    assert spread_in_system(0.010, 0.010) == spread_in_system(0.009, 0.010) == 1.0


def test_the_number_running_spreads_as_its_steps_grow():
    """Qwen3-32B on one H200 with 2000-token prompts at 9 requests running on average: steps grow with the batch,
    so requests stay longer when more run. The simulator's p99 batch (no cap) is well above Poisson's; the spread
    the analytic step times give moves the p99 towards it, not past it (the symmetric-queue spread leaves out
    the bursts of queued prompts: docs/calibration.md)."""
    model_id, arch = model_arch("qwen3-32b")
    sys_ = catalog().system("1xh200")
    dep = Deployed(arch, catalog().chips[sys_.chip], sys_, Deployment(precision="fp8", kv_precision="fp8"), model_id)
    unit = Unit(dep, 2000, 400)
    m = 9.0
    step, own, _ = unit.mixed(m, 2048)
    spread = spread_in_system(step, unit.step(1.0)[0])
    cfg = SimConfig(requests=3000, seed=0, max_seqs=256, token_budget=2048,
                    arrivals=Arrivals("poisson", rate=m / (own + 399 * step)),
                    input_dist=LengthDist("fixed", {"value": 2000}), output_dist=LengthDist("fixed", {"value": 400}))
    batch = summarize(run(dep, lambda: dep, cfg), {}, 1, window=(0.1, 0.9))["batch_size"]
    assert batch["mean"] == pytest.approx(m, rel=0.10)
    assert spread > 1.2
    assert p99_in_system(batch["mean"]) < p99_in_system(batch["mean"], spread) < batch["p99"]
    assert batch["p99"] > 1.15 * p99_in_system(batch["mean"])


def test_pool_wait_is_pollaczek_khinchine():
    """M/D/1 at rho 0.5 with 1 s service: mean wait rho S / (2 (1 - rho)) = 0.5 s; M/M/1 (cv 1): twice that, and
    its tail is exact, P(W > t) = rho exp(-(1 - rho) t / S): p99 = ln(50) / 0.5 s. Heavy traffic (rho 0.99): the
    decay rate tends to 2 (1 - rho) / (1 + cv^2) (Kingman)."""
    assert pool_wait(0.5, 1.0, 0.0)[0] == pytest.approx(0.5)
    assert pool_wait(0.5, 1.0, 1.0)[0] == pytest.approx(1.0)
    assert pool_wait(0.5, 1.0, 1.0)[1] == pytest.approx(log(50) / 0.5)
    for cv in (0.0, 0.5, 1.0):
        assert tail_rate(0.99, cv) == pytest.approx(0.02 / (1 + cv * cv), rel=0.02)
    assert pool_wait(0.0, 1.0)[0] == 0.0
    assert pool_wait(1.0, 1.0)[0] == float("inf")


def test_front_end_costs_hand_calculation():
    f = Factors(request_ms=40.0, prompt_host_us=5.0)
    assert host_ttft(f, 2000) == pytest.approx(0.040 + 0.010)
    assert host_ttft(f, 2000, 0.99) == pytest.approx(0.040 * 1.49 + 0.010)


def test_front_end_fit_recovers_the_costs_it_was_given():
    rng = np.random.default_rng(0)
    n = rng.integers(100, 8000, 60).astype(float)
    p = rng.uniform(0.02, 0.5, 60)
    m = p + 0.050 + 4e-6 * n
    a, b = _solve(np.stack([p, m, n], axis=1))
    assert a == pytest.approx(0.050, rel=1e-6)
    assert b == pytest.approx(4e-6, rel=1e-6)
    a, b = _solve(np.stack([p, p * 0.9, n], axis=1))  # measured below the steps alone: costs clipped to zero
    assert a == 0.0 and b == 0.0


def test_predict_ttft_is_the_sum_of_its_parts():
    p = predict(**BASE, batch=32, input=2048, output=256)
    parts = p.ttft_parts
    assert parts.total == pytest.approx(p.ttft_loaded_s)
    assert parts.host == pytest.approx(host_ttft(deploy(BASE["model"], BASE["system"],
                                                        Deployment(precision="fp8")).factors, 2048))
    assert parts.prefill > 0 and parts.admission > 0
    assert p.to_dict()["ttft_parts_ms"]["total"] == pytest.approx(p.ttft_loaded_s * 1e3)


def test_simulated_ttft_is_the_sum_of_its_parts():
    s, _ = simulate(**BASE, rate=15, input="2048", output="256", requests=1500, seed=3)
    parts = s["ttft_parts_ms"]
    assert parts["total"] == pytest.approx(s["ttft_ms"]["mean"], rel=1e-9)
    assert parts["host"] > 0 and parts["prefill"] > 0 and parts["transfer"] == 0.0


def test_disaggregated_ttft_has_a_transfer_part():
    s, _ = simulate(**BASE, rate=5, input="2048", output="128", requests=600, disaggregate="1:1")
    assert s["ttft_parts_ms"]["transfer"] > 0


def test_an_overloaded_run_says_it_is_not_in_steady_state():
    """The issue's example: 20 req/s of 2,000-token answers on one H100. Short or long, the run is overloaded, and
    says so instead of reporting a throughput that depends on its length as if it were the deployment's."""
    for n in (200, 1000):
        s, _ = simulate(model="llama-3.1-8b", system="1xh100-sxm", rate=20, output="2000", seed=1, requests=n)
        assert s["steady_state"] is False
        assert s["steady_state_note"].startswith("overloaded")
    s, _ = simulate(model="llama-3.1-8b", system="1xh100-sxm", rate=5, output="200", seed=1, requests=2000)
    assert s["steady_state"] is True


def test_completed_throughput_never_exceeds_the_arrival_rate():
    for seed in range(4):
        s, r = simulate(**BASE, rate=8, input="1024", output="128", requests=400, seed=seed)
        lo, hi = s["window_s"]
        arriving = sum(1 for q in r.requests if lo <= q.arrival <= hi) / (hi - lo)
        assert s["throughput"]["requests_s"] <= arriving * (1 + 1e-9)


def test_kv_use_never_above_the_cache():
    """The issue's example reported the cache 106 % in use."""
    s, _ = simulate(**BASE, rate=20, input="1024", output="2000", requests=500)
    assert s["preemptions"] > 0  # the cache is the limit here
    assert 0.5 < s["kv_cache_utilization"] <= 1.0


def _closed(stagger: bool, lengths: LengthDist) -> dict:
    dep = deploy("llama-3.1-8b", "1xh100-sxm", Deployment(engine="trt-llm"))
    cfg = SimConfig(requests=640, seed=0, max_seqs=2048, stagger=stagger, input_dist=lengths,
                    output_dist=LengthDist("fixed", {"value": 128}), arrivals=Arrivals("concurrency", clients=64))
    return summarize(run(dep, None, cfg), {}, 1)


def test_closed_loop_clients_with_equal_lengths_drift_apart():
    """64 clients of equal 1,024-token prompts: started together they stay in lockstep waves, every prompt waiting
    behind the others' (the old TTFT, several times too high); drifted apart (the default) they wait no longer
    than clients whose lengths differ (and so never lock)."""
    apart = _closed(True, LengthDist("fixed", {"value": 1024}))
    together = _closed(False, LengthDist("fixed", {"value": 1024}))
    spread = _closed(True, LengthDist("uniform", {"low": 820, "high": 1228}))
    assert together["ttft_ms"]["mean"] > 2.5 * apart["ttft_ms"]["mean"]
    assert apart["ttft_ms"]["mean"] < 1.25 * spread["ttft_ms"]["mean"]


def test_an_engine_that_keeps_prompts_apart_holds_its_clients_in_step():
    """SGLang (no mixed batches): prompts that arrive during a prefill burst join it and start decoding when it
    ends, so equal-length requests finish and return together. Clients staggered by hand coarsen into waves over
    the run (TTFT rises from the first sixth to the last); started in step (the default) they stay there."""
    import suanli.serve.sim as sim_module

    dep = deploy("llama-3.1-8b", "1xh100-sxm", Deployment(engine="sglang"))
    assert not dep.stack.features.mixed_batches

    def ttft_by_sixth(cfg) -> list[float]:
        reqs = sorted(run(dep, None, cfg).requests, key=lambda r: r.arrival)
        return [float(np.mean([r.first_token - r.arrival for r in part])) for part in np.array_split(reqs, 6)]

    def cfg() -> SimConfig:
        return SimConfig(requests=1536, seed=0, max_seqs=2048, input_dist=LengthDist("fixed", {"value": 1024}),
                         output_dist=LengthDist("fixed", {"value": 128}), arrivals=Arrivals("concurrency", clients=64))

    held = ttft_by_sixth(cfg())
    lifetime = sim_module._lifetime
    try:  # the spread a mixed-batch engine's clients start with
        sim_module._lifetime = lambda front, c, p, o, n: 3.0
        staggered = ttft_by_sixth(cfg())
    finally:
        sim_module._lifetime = lifetime
    assert staggered[-1] > 1.2 * staggered[0]  # waves form
    s, _ = simulate(model="llama-3.1-8b", system="1xh100-sxm", engine="sglang", concurrency=8, requests=40)
    assert s["clients_start"].startswith("in step")  # and the summary says how they started
    s, _ = simulate(model="llama-3.1-8b", system="1xh100-sxm", engine="trt-llm", concurrency=8, requests=40)
    assert s["clients_start"].startswith("spread")
    assert held[-1] > 0.9 * held[0] and held[0] > staggered[0]  # in step from the start, and staying so


def test_disaggregated_pools_are_read_with_their_own_layouts():
    text = ("mode=disagg; disaggregated: prefill 2 workers x (tp1 pp1 dp4 moe_tp1 moe_ep4), decode 3 workers x "
            "(tp8 pp1 dp1 moe_tp2 moe_ep4), prefill_batch 1, decode_batch 48 (per decode attention-DP rank)")
    p = pools(text)
    assert (p.prefill, p.decode, p.prefill_layout, p.decode_layout) == (2, 3, (1, 1, 4, 4), (8, 1, 8, 1))
    assert (p.prefill_batch, p.decode_batch, p.chips("prefill"), p.chips("decode")) == (1, 48, 4, 8)
    assert pools("disaggregated 1P2D, each worker TP4").decode_layout == (4, 1, 1, 1)


def test_replica_concurrency_is_read_from_the_batch_per_rank():
    assert clients_per_deployment("AIC batch_size 13 (per attention-DP rank); tp2 attention_dp1", 416) == 13
    assert clients_per_deployment("AIC batch_size 32 (per attention-DP rank); attention_dp4", 128) is None
    assert clients_per_deployment("no batch stated", 416) is None


def test_overlap_scheduling_costs_a_new_request_the_prepared_step():
    """An engine that prepares step n+1 while step n runs (vLLM >= 0.14 async scheduling) admits a request that
    arrives mid-step one step later than one that schedules synchronously (0.13): under load TTFT's admission part
    grows by about one step, the decode steps stay as they were, and a lone client (idle engine) waits for nothing."""
    run_ = dict(model="llama-3.1-8b", system="1xh100-sxm", input="1024", output="128", seed=1)
    on, _ = simulate(engine="vllm 0.14.0", concurrency=16, requests=240, **run_)
    off, _ = simulate(engine="vllm 0.13.0", concurrency=16, requests=240, **run_)
    step = off["tpot_ms"]["mean"]
    gained = on["ttft_parts_ms"]["admission"] - off["ttft_parts_ms"]["admission"]
    assert 0.6 * step < gained < 1.6 * step
    assert on["tpot_ms"]["mean"] == pytest.approx(step, rel=0.05)
    alone_on, _ = simulate(engine="vllm 0.14.0", concurrency=1, requests=20, **run_)
    alone_off, _ = simulate(engine="vllm 0.13.0", concurrency=1, requests=20, **run_)
    assert alone_on["ttft_ms"]["mean"] == pytest.approx(alone_off["ttft_ms"]["mean"], rel=0.01)


def test_predict_admission_counts_the_prepared_step():
    """`predict`'s one request joining a running batch waits half the running step, plus the whole prepared step
    with overlap scheduling (hand calculation: 0.5 and 1.5 TPOT)."""
    for engine, steps in (("vllm 0.13.0", 0.5), ("vllm 0.14.0", 1.5)):
        p = predict(**BASE, engine=engine, batch=16, input=1024, output=128)
        assert p.ttft_parts.admission == pytest.approx(steps * p.tpot_s, rel=1e-9)
        assert p.to_dict()["engine"]["overlap_scheduling"] is (steps > 1)


def test_a_tensorrt_llm_prefill_worker_runs_without_the_overlap():
    """TensorRT-LLM's disaggregated context servers run with the overlap scheduler off (its docs), SGLang's prefill
    servers keep it: only the latter's prompts wait for a prepared prefill step."""
    from suanli.engines import resolve_engine
    from suanli.serve.analytic import overlapped

    trt, sgl = resolve_engine("trt-llm 1.0.0rc3").features, resolve_engine("sglang 0.5.9").features
    assert overlapped(trt) and not overlapped(trt, prefill_worker=True)
    assert overlapped(sgl) and overlapped(sgl, prefill_worker=True)
    run_ = dict(model="llama-3.1-8b", system="2xh100-sxm", input="4096", output="64", rate=4, requests=400, seed=2,
                disaggregate="1:1")
    on, _ = simulate(engine="trt-llm 1.0.0rc3", **run_)
    no_prefill_overlap, _ = simulate(engine="trt-llm 0.21.0", **run_)  # no overlap anywhere
    # the prefill pool's prompts wait alike (with the overlap there, 20 % longer at this load)
    assert on["ttft_parts_ms"]["admission"] == pytest.approx(no_prefill_overlap["ttft_parts_ms"]["admission"],
                                                            rel=1e-6)


# the planner's candidates at the rate it plans for them (their batch cap the p99 number running): a model and
# chip whose steps barely grow with the batch, one whose steps grow, short and long requests, small and large caps
PLANNED = [("llama-3.1-8b", "1xh100-sxm", 2000, 400, 16), ("llama-3.1-8b", "1xh100-sxm", 512, 128, 64),
           ("qwen3-32b", "1xh200", 2000, 400, 16), ("qwen3-32b", "1xh200", 512, 128, 64)]


@pytest.mark.parametrize("model, system, inp, out, cap", PLANNED)
def test_planner_steady_state_matches_the_simulator(model, system, inp, out, cap):
    """The planner reads the same open-loop model as validation (`serve/analytic.open_loop`) on its own step
    times: at the rate it plans a candidate for, with the candidate's batch cap and token budget, its mean TTFT and
    TPOT are within 10 % of the simulator's and the p99s within 20 %."""
    model_id, arch = model_arch(model)
    sys_ = catalog().system(system)
    dep = Deployed(arch, catalog().chips[sys_.chip], sys_, Deployment(precision="fp8", kv_precision="fp8"), model_id)
    assert_planned_as_simulated(dep, system, inp, out, cap, 2048)


def assert_planned_as_simulated(dep: Deployed, system: str, inp: int, out: int, cap: int, budget: int) -> None:
    """The planner's candidate (`Unit.colocated`, one rank, this cap and budget) against the simulator at the rate
    it plans it for: mean TTFT and TPOT within 10 %, p99s within 20 %."""
    rec = Unit(dep, inp, out).colocated(Eval(system=system, mode="colocated", tp=1, pp=1, ep=1, dp=1,
                                             precision="fp8", kv_precision="fp8", token_budget=budget, max_batch=cap))
    rate = rec.out_tok_s / out
    e2e = rec.ttft_mean + (out - 1) * rec.tpot_mean
    n = int(max(600, 6 * rate * e2e + 400))
    cfg = SimConfig(requests=n, seed=0, max_seqs=cap, token_budget=budget, arrivals=Arrivals("poisson", rate=rate),
                    input_dist=LengthDist("fixed", {"value": inp}), output_dist=LengthDist("fixed", {"value": out}))
    sim = summarize(run(dep, lambda: dep, cfg), {}, 1, window=(min(0.5, max(0.1, 1.5 * e2e * rate / n)), 0.9))
    assert rec.ttft_mean * 1e3 == pytest.approx(sim["ttft_ms"]["mean"], rel=0.10)
    assert rec.tpot_mean * 1e3 == pytest.approx(sim["tpot_ms"]["mean"], rel=0.10)
    assert rec.ttft_p99 * 1e3 == pytest.approx(sim["ttft_ms"]["p99"], rel=0.20)
    assert rec.tpot_p99 * 1e3 == pytest.approx(sim["tpot_ms"]["p99"], rel=0.20)
