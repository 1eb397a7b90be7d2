"""Prompts of varied length in the serving model: a long prompt's own steps (its token-budget chunks) are a spread
of TTFT of their own, which the analytic p99 adds to the queue's as the simulator shows it."""

from math import exp, log, sqrt

import pytest

from suanli.perf.deployed import Deployed
from suanli.perf.factors import bundled_calibration
from suanli.serve.analytic import length_quantile
from suanli.serve.metrics import summarize
from suanli.serve.sim import SimConfig, run
from suanli.serve.workload import Arrivals, LengthDist
from suanli.validate.deploy import _deployments
from suanli.validate.scenarios import _in_system, under_arrivals
from suanli.validate.setup import Setup
from suanli.validate.step_times import budget_of


def test_length_quantile_is_the_lognormal_one():
    """cv 0: every prompt alike; else mean x exp(sigma z - sigma^2 / 2) with sigma^2 = ln(1 + cv^2): the median
    sits below the mean and the 99th percentile of cv 0.77 (MLPerf's OpenOrca prompts) near 3.9 x the mean."""
    assert length_quantile(222, 0.0) == 222
    sigma = sqrt(log(1 + 0.77 ** 2))
    assert length_quantile(222, 0.77, 0.5) == pytest.approx(222 * exp(-sigma ** 2 / 2))
    assert length_quantile(222, 0.77) == pytest.approx(222 * exp(sigma * 2.3263 - sigma ** 2 / 2), rel=1e-4)
    assert 3.8 < length_quantile(1.0, 0.77) < 4.0


def _setup(cv: float) -> Setup:
    # MLPerf's Llama-2-70B Interactive on one H200 as the v5.1 configs run it: 256 tokens a step, prompts chunked
    s = Setup("h200", 1, "llama-2-70b", "fp8", "fp8", "trt-llm 1.0.0", 1, 1, 1, 1, "server", 222, 294, None, 8.4,
              None, None, None, batch_cap=512, output_cv=0.787, input_cv=cv, front_end=False,
              launch=(("token_budget", 256), ("chunked_prefill", True), ("overlap_scheduling", False)))
    return s


def test_long_prompts_widen_the_p99_ttft_not_its_mean():
    """The same load with prompt lengths spread (cv 0.77) and alike: the mean TTFT stays near the mean prompt's
    (only the queue behind varied prompts grows, M/G/1); the p99 grows by the long prompts' extra chunks."""
    cal = bundled_calibration()
    alike, spread = _setup(0.0), _setup(0.77)
    dep = _deployments(spread, cal)[0]
    b = _in_system(dep, spread, spread.rate, 512)
    wide, narrow = under_arrivals(dep, b, spread), under_arrivals(dep, b, alike)
    assert wide.ttft == pytest.approx(narrow.ttft, rel=0.05)
    assert wide.ttft_p99 > 1.2 * narrow.ttft_p99


def test_p99_ttft_with_long_prompts_is_near_the_simulators():
    """Against the simulator drawing lognormal prompts and outputs of those spreads: the analytic p99 TTFT within
    30 % (it was half the simulator's before a long prompt's chunks were counted)."""
    cal = bundled_calibration()
    s = _setup(0.77)
    dep = _deployments(s, cal)[0]
    a = under_arrivals(dep, _in_system(dep, s, s.rate, 512), s)

    def lognormal(mean: float, cv: float) -> LengthDist:
        return LengthDist("lognormal", {"mean": mean, "sigma": sqrt(log(1 + cv * cv))})

    cfg = SimConfig(requests=3000, seed=0, max_seqs=512, front_end=False, token_budget=budget_of(dep, s),
                    input_dist=lognormal(222, 0.77), output_dist=lognormal(294, 0.787),
                    arrivals=Arrivals("poisson", rate=s.rate))
    sim = run(Deployed(dep.arch, dep.chip, dep.system, dep.dep, dep.model_id, cal, dep.stack), None, cfg)
    m = summarize(sim, {}, 1, window=(0.1, 0.9))
    assert m["steady_state"]
    assert a.ttft_p99 * 1e3 == pytest.approx(m["ttft_ms"]["p99"], rel=0.30)
    assert a.ttft * 1e3 == pytest.approx(m["ttft_ms"]["mean"], rel=0.15)
