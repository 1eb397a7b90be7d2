"""The engine's own share of the first-token path (`engine_request_ms`): in-process harnesses pay it, a server's
front end comes on top; fitted per engine family on in-process low-load TTFT rows before the front end."""

import numpy as np
import pytest

from suanli.perf.factors import Factors
from suanli.serve.analytic import host_ttft
from suanli.serve.sim import host_delays
from suanli.validate.first_token import _fit


def test_engine_share_by_hand():
    f = Factors(engine_request_ms=2.0, request_ms=40.0, prompt_host_us=5.0)
    assert host_ttft(f, 2000) == pytest.approx(0.002 + 0.040 + 0.010)
    assert host_ttft(f, 2000, 0.99) == pytest.approx(0.002 + 0.040 * 1.49 + 0.010)
    assert host_ttft(f, 2000, front_end=False) == pytest.approx(0.002)  # an in-process harness


def test_simulator_delays_in_process_requests_by_the_engine_share():
    f = Factors(engine_request_ms=2.0, request_ms=40.0, prompt_host_us=5.0)
    rng = np.random.default_rng(0)
    assert np.allclose(host_delays(f, np.full(4, 1000), rng, front_end=False), 0.002)
    served = host_delays(f, np.full(1000, 1000), rng)
    assert served.mean() == pytest.approx(0.002 + 0.040 + 0.005, rel=0.02)


def test_fit_takes_the_engine_share_first_then_the_front_end_on_top():
    rng = np.random.default_rng(1)
    points = []
    for i in range(40):  # in-process rows: the steps and 3 ms
        p = rng.uniform(0.01, 0.3)
        points.append(("eng", f"src{i % 3}", p, p + 0.003, 500.0, True))
    for i in range(60):  # served rows: the 3 ms, a 50 ms front end and 4 us per prompt token
        p, n = rng.uniform(0.02, 0.5), float(rng.integers(100, 8000))
        points.append(("eng", f"src{i % 3}", p, p + 0.003 + 0.050 + 4e-6 * n, n, False))
    table, report = _fit(points)
    assert table["eng"]["engine_request_ms"] == pytest.approx(3.0, abs=0.01)
    assert table["eng"]["request_ms"] == pytest.approx(50.0, abs=0.01)
    assert table["eng"]["prompt_host_us"] == pytest.approx(4.0, abs=0.001)
    assert report["eng"]["in_process_mape_after"] < 1e-3 < report["eng"]["in_process_mape_before"]
    only_served, _ = _fit([pt for pt in points if not pt[5]])
    assert "engine_request_ms" not in only_served["eng"]  # no in-process rows: no share fitted
