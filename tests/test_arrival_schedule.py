"""Arrivals on a fixed schedule (a load generator sending each request 1/rate after the last, as guidellm's sweep
does) queue less than Poisson ones: in the simulator, in the analytic wait (Kingman), and in validation's reading
of guidellm rate rows."""

import numpy as np
import pytest

from suanli.api import simulate
from suanli.serve.analytic import pool_wait, prompt_wait
from suanli.serve.workload import Arrivals, arrivals
from suanli.validate.data import load_rows
from suanli.validate.sources import setup_of

BASE = dict(model="llama-3.1-8b", system="1xh100-sxm", precision="fp8")
HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
          "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")


def test_constant_gaps_are_one_over_rate():
    t = Arrivals("constant", rate=4.0).times(np.random.default_rng(0), 5)
    assert np.allclose(t, [0.25, 0.5, 0.75, 1.0, 1.25])
    assert arrivals("constant", 4.0, None, None).cv == 0.0


def test_fixed_schedule_queues_less_than_poisson():
    """Long prompts at a rate where the prefill keeps the engine busy: Poisson arrivals meet earlier prompts,
    arrivals 1/rate apart mostly do not."""
    args = dict(**BASE, rate=3.5, input="8000", output="64", requests=1500, seed=4)
    poisson, _ = simulate(**args)
    fixed, _ = simulate(**args, arrival="constant")
    alone, _ = simulate(**{**args, "rate": 0.05, "requests": 200})
    assert fixed["ttft_ms"]["mean"] < 0.8 * poisson["ttft_ms"]["mean"]
    assert fixed["ttft_ms"]["mean"] >= 0.95 * alone["ttft_ms"]["mean"]


def test_kingman_scales_the_pollaczek_khinchine_wait():
    mixed, decode, prompts = 0.05, 0.02, 2.0
    rho, service = 1 - decode / mixed, (mixed - decode) / prompts
    for cv in (0.0, 0.5):
        assert prompt_wait(mixed, decode, prompts, cv) == pytest.approx(pool_wait(rho, service, cv))
        mean, p99 = prompt_wait(mixed, decode, prompts, cv, arrival_cv=0.0)
        assert mean == pytest.approx(pool_wait(rho, service, cv)[0] * cv ** 2 / (1 + cv ** 2))
    assert prompt_wait(mixed, decode, prompts, 0.0, arrival_cv=0.0) == (0.0, 0.0)  # D/D/1 below capacity


def test_guidellm_sweep_rates_are_a_fixed_schedule(tmp_path):
    p = tmp_path / "rows.csv"
    notes = 'guidellm mode "asynchronous@0.49 req/sec" (max concurrency 128)'
    p.write_text(HEADER + "\n" + "a,some bench,https://example.com,h100-sxm,1,llama-3.1-8b,bf16,,"
                 f"vllm 0.6 (guidellm 0.1),1,,,,rate,1500,250,,0.49,,,ttft_mean_ms,1000,ms,{notes}\n"
                 "b,some bench,https://example.com,h100-sxm,1,llama-3.1-8b,bf16,,vllm 0.6,1,,,,rate,1500,250,,0.49,,,"
                 "ttft_mean_ms,1000,ms,\n")
    (fixed, notes_a), (poisson, _) = (setup_of(r) for r in load_rows(p))
    assert fixed.arrival_cv == 0.0 and any("1/rate apart" in n for n in notes_a)
    assert poisson.arrival_cv == 1.0
