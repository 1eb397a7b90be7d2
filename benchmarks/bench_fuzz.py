"""Fuzz the CLI and the HTTP API (issue 22): generated inputs, good and bad, with a fixed seed.

Every case must end in exit 0 or 2 (HTTP 200 or a 4xx), never a traceback or HTTP 500, within 10 s, and every
number in a successful JSON answer must be finite (and not negative where it is a time, rate, size or price).
Prints the count of each outcome; exits 1 if any case broke a rule.

Run: python benchmarks/bench_fuzz.py [--cli N] [--api N]   (defaults 1200 and 800: 2,000 cases)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GOOD_MODELS = ["llama-3.1-8b", "qwen3-32b", "deepseek-r1", "mixtral-8x7b", "qwen2.5-0.5b"]
MODELS = GOOD_MODELS * 3 + ["llama-9000b", "", "../etc/x.json"]  # mostly valid: successes are checked too
GOOD_SYSTEMS = ["1xh100-sxm", "dgx-h100", "4xb200", "atlas-800-a2", "1xjetson-agx-orin", "mi300x-8"]
SYSTEMS = GOOD_SYSTEMS * 3 + ["-1xh100-sxm", "99999999xh100-sxm", "0xh100-sxm", "nope"]
PRECISIONS = ["bf16", "fp8", "fp8-block", "int8", "w4a16", "fp4", "fp3", ""]
ENGINES = ["vllm", "sglang", "trt-llm", "vllm==0.7.3", "mindie", "sglang==x", "nosuch"]
INTS = st.one_of(st.integers(1, 4096), st.integers(-3, 70_000), st.sampled_from([0, 1, 2**31, 10**12]))
WORDS = st.sampled_from(["x", "1e100", "nan", "-1", "inf", "", "3.5"])
NUMS = st.one_of(st.floats(0.01, 1e4), st.floats(allow_nan=True, allow_infinity=True))
DISTS = st.sampled_from(["128", "fixed:64", "uniform:low=10,high=200", "lognormal:mean=100,sigma=0.5",
                         "lognormal:mean=nan,sigma=1", "uniform:low=5,high=1", "empirical:/nonexistent",
                         "uniform:low=1,high=1e30", "zipf:3"])
SLOW: list = []  # (seconds, args) of every CLI case, to print the slowest
TIMED = ("_ms", "_s", "tok_s", "_gb", "usd", "price", "watts", "per_chip", "per_user")


def _opt(name: str, values) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [name, str(v)]))


CHIPS = ["h100-sxm", "mi300x", "ascend-910b", "b200", "jetson-agx-orin"]
VARY = st.one_of(st.sampled_from(["memory.bandwidth=1TB/s:8TB/s:10", "compute=x0.1:x1:5", "tdp=300:700:3",
                                  "node=7,5", "price=1e4,2e4", "memory.bandwidth=5:1:3", "compute=x0:x1:2",
                                  "sram=1:2:2", "memory.capacity=nan:1:2", "bogus", "=", "compute=1:2:1e9"]),
                 st.text(max_size=40))
WHERE = st.one_of(st.sampled_from(["tpp<4800", "tpot<50ms and pd<5.92", "class == 'below'", "tpot_p99<1ms",
                                   "tpp<", "__import__('os')", "x" * 3000, "tpot<5GB"]), st.text(max_size=40))
WHERE_OK = ["tpp<4800", "tpot<80ms", "class_2023 != '3A090.a' or tpot<30ms", "power_kw<=10kW", "fits"]
OBJECTIVES = ["tok_s_per_chip:max,usd_per_mtok:min", "fits:max", "bogus", "tpot:up", "a,b,c,d,e"]


@st.composite
def cli_case(draw) -> list[str]:
    cmd = draw(st.sampled_from(["predict", "predict", "simulate", "cost", "compare", "stack", "catalog", "explore"]))
    if draw(st.booleans()):  # half the cases are well-formed, so that successful outputs are checked too
        return draw(clean_case(cmd))
    model, system = draw(st.sampled_from(MODELS)), draw(st.sampled_from(SYSTEMS))
    if cmd == "explore":
        return ["explore", "--base", draw(st.sampled_from([*CHIPS, "nope", "-1", ""])), "--model", model,
                "--vary", draw(VARY), *draw(_opt("--where", WHERE)), *draw(_opt("--chips", INTS)),
                *draw(_opt("--batch", INTS)), *draw(_opt("--objectives", st.sampled_from(OBJECTIVES))), "--json"]
    if cmd == "catalog":
        return ["catalog", "show", draw(st.sampled_from(MODELS + SYSTEMS + ["h100-sxm", "ascend-910b"]))]
    args = [cmd, "--model", model]
    args += ["--systems", f"{system},1xh100-sxm"] if cmd == "compare" else ["--system", system]
    size = st.one_of(st.integers(1, 8192), INTS, WORDS)
    if cmd in ("predict", "simulate"):
        for name in ("--tp", "--dp"):
            args += draw(_opt(name, st.one_of(st.integers(-1, 9), WORDS)))
        args += draw(_opt("--precision", st.sampled_from(PRECISIONS)))
        args += draw(_opt("--engine", st.sampled_from(ENGINES)))
    if cmd in ("predict", "compare", "stack", "cost"):
        args += draw(_opt("--input", size)) + draw(_opt("--output", size))
    if cmd == "predict":
        args += draw(_opt("--batch", size))
    if cmd == "simulate":
        args += ["--requests", str(draw(st.one_of(st.integers(-1, 200), st.sampled_from([10**9, 0]))))]
        args += draw(st.one_of(st.just(["--rate", "2"]), _opt("--rate", NUMS), _opt("--concurrency", INTS)))
        args += draw(_opt("--input", DISTS)) + draw(_opt("--output", DISTS))
        for name in ("--seed", "--max-seqs", "--max-tokens"):
            args += draw(_opt(name, INTS))
    if cmd == "cost":
        for name in ("--system-price", "--pue", "--utilization", "--electricity"):
            args += draw(_opt(name, NUMS))
    return args + (["--json"] if cmd != "catalog" else [])


@st.composite
def clean_case(draw, cmd: str) -> list[str]:
    model, system = draw(st.sampled_from(GOOD_MODELS)), draw(st.sampled_from(GOOD_SYSTEMS))
    if cmd == "catalog":
        return ["catalog", "show", model]
    if cmd == "explore":
        lo, steps = draw(st.floats(0.05, 1)), draw(st.integers(1, 30))
        return ["explore", "--base", draw(st.sampled_from(CHIPS)), "--model", model, "--chips", "8", "--vary",
                f"compute=x{lo:.3f}:x1:{steps}", "--vary", f"memory.bandwidth=x0.5:x2:{draw(st.integers(1, 30))}",
                "--batch", str(draw(st.integers(1, 256))), "--where", draw(st.sampled_from(WHERE_OK)), "--json"]
    args = [cmd, "--model", model]
    args += ["--systems", f"{system},1xh100-sxm"] if cmd == "compare" else ["--system", system]
    lengths = ["--input", str(draw(st.integers(1, 32_768))), "--output", str(draw(st.integers(1, 4096)))]
    if cmd == "simulate":
        args += ["--requests", str(draw(st.integers(1, 150))), "--rate", str(draw(st.floats(0.05, 50)))]
        args += ["--input", draw(st.sampled_from(["512", "uniform:low=10,high=2000", "lognormal:mean=300,sigma=1"]))]
        args += ["--output", draw(st.sampled_from(["64", "uniform:low=1,high=300", "lognormal:mean=100,sigma=0.8"]))]
    else:
        args += lengths
    if cmd == "predict":
        args += ["--batch", str(draw(st.integers(1, 512))), "--precision", draw(st.sampled_from(PRECISIONS[:6]))]
    if cmd == "cost":
        args += ["--pue", str(draw(st.floats(1, 2))), "--utilization", str(draw(st.floats(0.05, 1)))]
    return [*args, "--json"]


@st.composite
def api_case(draw) -> tuple[str, dict]:
    path = draw(st.sampled_from(["/api/predict", "/api/predict", "/api/simulate", "/api/compare"]))
    body: dict = {"model": draw(st.sampled_from(MODELS)), "system": draw(st.sampled_from(SYSTEMS))}
    if path == "/api/compare":
        body = {"model": body["model"], "systems": [body["system"], "1xh100-sxm"]}
    if draw(st.booleans()):  # well-formed half
        body.update(model=draw(st.sampled_from(GOOD_MODELS)), input=draw(st.integers(1, 32_768)),
                    output=draw(st.integers(1, 2048)))
        if path != "/api/compare":
            body["system"] = draw(st.sampled_from(GOOD_SYSTEMS))
        if path == "/api/simulate":
            body.update(requests=draw(st.integers(1, 120)), rate=draw(st.floats(0.05, 30)))
        elif path == "/api/predict":
            body.update(batch=draw(st.integers(1, 256)))
        return path, body
    anything = st.one_of(INTS, NUMS, WORDS, st.none(), st.lists(st.integers(), max_size=2))
    for key in ("tp", "batch", "input", "output", "precision", "engine"):
        if draw(st.booleans()):
            body[key] = draw(st.one_of(anything, st.sampled_from(PRECISIONS + ENGINES)))
    if path == "/api/simulate":
        body["requests"] = draw(st.one_of(st.integers(-1, 150), st.just(10**9)))
        body["rate"] = draw(st.one_of(st.just(2.0), NUMS))
        for key in ("seed", "max_seqs", "max_tokens"):
            if draw(st.booleans()):
                body[key] = draw(INTS)
        if draw(st.booleans()):
            body["output"] = draw(DISTS)
    if draw(st.integers(0, 20)) == 0:
        body[draw(st.sampled_from(["bacth", "x" * 50, "__proto__"]))] = 1
    return path, body


def _bad_numbers(obj, key: str = "") -> list[str]:
    """Numbers that are not finite anywhere, or negative where the key names a time, rate, size or price."""
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in _bad_numbers(v, str(k))]
    if isinstance(obj, list):
        return [b for v in obj for b in _bad_numbers(v, key)]
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        return []
    if not math.isfinite(obj):
        return [f"{key}={obj}"]
    if obj < 0 and key.endswith(TIMED):
        return [f"{key}={obj}"]
    return []


def _strict_json(text: str):
    def refuse(word: str):
        raise ValueError(f"bare {word} in JSON")
    return json.loads(text, parse_constant=refuse)


def run_cli(args: list[str], outcomes: Counter, broken: list) -> None:
    from suanli.cli import main

    out, err = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    code: int | str = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - an escaped exception is the traceback this counts
        code = f"traceback {type(e).__name__}"
    dt = time.perf_counter() - t
    SLOW.append((dt, args))
    text = out.getvalue()
    kind = f"exit {code}"
    if code not in (0, 2) or "Traceback" in err.getvalue():
        kind = f"BROKEN: {code}"
    elif dt > 10:
        kind = "BROKEN: over 10 s"
    elif code == 2 and len(err.getvalue().strip().splitlines()) > 3:
        kind = "BROKEN: a long error"
    elif code == 0 and "--json" in args:
        try:
            bad = _bad_numbers(_strict_json(text))
        except ValueError as e:
            bad = [str(e)]
        if bad:
            kind = f"BROKEN: {bad[0]}"
    outcomes["cli " + kind.split(":")[0] if kind.startswith("BROKEN") else "cli " + kind] += 1
    if kind.startswith("BROKEN"):
        broken.append((kind, args, err.getvalue().strip().splitlines()[-1:] if err.getvalue() else ""))


def run_api(client, case: tuple[str, dict], outcomes: Counter, broken: list) -> None:
    path, body = case
    t = time.perf_counter()
    r = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})  # NaN kept
    dt = time.perf_counter() - t
    kind = f"http {r.status_code}"
    if r.status_code >= 500:
        kind = f"BROKEN: HTTP {r.status_code}"
    elif dt > 10:
        kind = "BROKEN: over 10 s"
    else:
        try:
            bad = _bad_numbers(_strict_json(r.text)) if r.status_code == 200 else []
        except ValueError as e:
            bad = [str(e)]
        if bad:
            kind = f"BROKEN: {bad[0]}"
    outcomes["api " + (kind.split(":")[0] if kind.startswith("BROKEN") else kind)] += 1
    if kind.startswith("BROKEN"):
        broken.append((kind, path, body, r.text[:200]))


def main() -> None:
    n_cli = int(sys.argv[sys.argv.index("--cli") + 1]) if "--cli" in sys.argv else 1200
    n_api = int(sys.argv[sys.argv.index("--api") + 1]) if "--api" in sys.argv else 800
    from fastapi.testclient import TestClient

    from suanli.web.app import create_app

    outcomes: Counter = Counter()
    broken: list = []
    common = dict(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    t0 = time.perf_counter()

    @settings(max_examples=n_cli, **common)
    @given(cli_case())
    def cli(args):
        run_cli(args, outcomes, broken)

    client = TestClient(create_app(), raise_server_exceptions=False)

    @settings(max_examples=n_api, **common)
    @given(api_case())
    def api(case):
        run_api(client, case, outcomes, broken)

    cli()
    api()
    total = sum(outcomes.values())
    print(f"fuzz: {total} cases (seed fixed: hypothesis derandomize) in {time.perf_counter() - t0:.0f} s")
    for kind, n in sorted(outcomes.items()):
        print(f"  {kind:14} {n:6d}")
    print(f"  broken         {len(broken):6d} (tracebacks, HTTP 500, over 10 s, non-finite or negative outputs)")
    for dt, args in sorted(SLOW, key=lambda x: -x[0])[:5]:
        print(f"  slowest CLI case {dt:.1f} s: {' '.join(args)}")
    for b in broken[:20]:
        print("   ", *b)
    if broken:
        sys.exit(1)


if __name__ == "__main__":
    main()
