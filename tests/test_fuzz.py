"""A short run of the fuzzer (`benchmarks/bench_fuzz.py` runs 2,000 cases in CI): generated CLI and API inputs end
in exit 0 or 2 / HTTP 200 or 4xx, never a traceback, a 500, a hang or a non-finite number."""

import importlib.util
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_fuzz.py"
SPEC = importlib.util.spec_from_file_location("bench_fuzz", BENCH)
fuzz = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fuzz)
QUICK = settings(max_examples=120, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck))


@QUICK
@given(fuzz.cli_case())
def test_cli_never_breaks(args):
    outcomes, broken = Counter(), []
    fuzz.run_cli(args, outcomes, broken)
    assert not broken, broken


def test_api_never_breaks():
    from suanli.web.app import create_app

    client = TestClient(create_app(), raise_server_exceptions=False)

    @QUICK
    @given(fuzz.api_case())
    def one(case):
        outcomes, broken = Counter(), []
        fuzz.run_api(client, case, outcomes, broken)
        assert not broken, broken

    one()


def test_the_checker_catches_what_it_looks_for():
    assert fuzz._bad_numbers({"ttft_ms": -1.0, "x": 2}) == ["ttft_ms=-1.0"]
    assert fuzz._bad_numbers({"a": [1.0, float("nan")]}) == ["a=nan"]
    assert fuzz._bad_numbers({"delta": -3}) == []
