"""End to end: the `suanli` command as a user runs it, outputs and errors."""

import json

import pytest

PREDICT = ["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "8", "--precision", "fp8",
           "--batch", "64", "--input", "2048", "--output", "128"]


def test_predict_text(cli):
    r = cli(*PREDICT)
    assert r.returncode == 0, r.stderr
    for word in ("Memory per chip", "fits", "TTFT", "TPOT", "Throughput", "gemm", "attention", "comm", "overhead",
                 "compute", "memory", "network"):
        assert word in r.stdout, word


def test_predict_json_keys(cli):
    r = cli(*PREDICT, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    for k in ("ttft_ms", "tpot_ms", "output_tok_s", "output_tok_s_per_chip", "total_tok_s", "fits",
              "memory_gb_per_chip", "breakdown"):
        assert k in j
    assert set(j["memory_gb_per_chip"]) >= {"weights", "kv_cache", "activations", "free"}
    assert j["fits"] is True
    op = j["breakdown"][0]
    assert set(op) >= {"name", "op_class", "time_ms", "bound"}
    assert {o["op_class"] for o in j["breakdown"]} >= {"gemm", "attention", "elementwise", "comm", "overhead"}
    assert j["output_tok_s_per_chip"] == pytest.approx(j["output_tok_s"] / 8)


def test_compare_ranks_systems(cli):
    r = cli("compare", "--model", "llama-3.1-70b", "--systems", "dgx-h100,1xh100-sxm", "--input", "1024",
            "--output", "256", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["systems"]
    ranked = [x for x in rows if "rank" in x]
    assert [x["rank"] for x in ranked] == list(range(1, len(ranked) + 1))
    vals = [x["output_tok_s_per_chip"] for x in ranked]
    assert vals == sorted(vals, reverse=True)
    r = cli("compare", "--model", "llama-3.1-70b", "--systems", "dgx-h100", "--input", "1024", "--output", "256")
    assert r.returncode == 0 and "dgx-h100" in r.stdout


def test_catalog_commands(cli):
    r = cli("catalog", "chips", "--vendor", "nvidia", "--json")
    assert r.returncode == 0
    chips = json.loads(r.stdout)["chips"]
    assert any(c["id"] == "h100-sxm" for c in chips)
    assert all(c["vendor"] == "nvidia" for c in chips)
    assert cli("catalog", "systems").returncode == 0
    assert cli("catalog", "models").returncode == 0
    r = cli("catalog", "show", "h100-sxm", "--json")
    figs = json.loads(r.stdout)["figures"]
    assert all(f["sources"] for f in figs.values())


BAD = [
    (["predict", "--model", "llama-9000b", "--system", "dgx-h100"], "unknown id 'llama-9000b'"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h9000"], "unknown id 'dgx-h9000'"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--batch", "0"], "batch"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--input", "-5"], "input_len"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--output", "0"], "output_len"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--power-limit", "-5"], "power_limit_w"),
    (["simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--rate", "1", "--power-limit", "0"],
     "power_limit_w"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "3"], "tp=3 does not divide"),
    (["predict", "--model", "llama-3.1-70b", "--system", "1xh100-sxm"], "does not fit"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--precision", "fp7"], "unknown precision"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--batch", "x"], "--batch"),
    (["predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--nope"], "No such option"),
    (["compare", "--model", "llama-3.1-70b", "--systems", "dgx-h100,nosuch", "--input", "10"], "unknown id"),
    (["predict", "--model", "/no/such/config.json", "--system", "dgx-h100"], "not found"),
    # bounded work: a prompt longer than any model's context is refused before any step is costed
    (["predict", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--input", "99999999999"], "input_len"),
    (["cost", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--system-price", "-1"], "system-price: -1"),
    (["cost", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--pue", "0.5"], "pue: 0.5"),
    # issue 22: each case the fuzzing found, one line and exit 2 instead of a traceback, a hang or exit 0
    (["validate", "--data", "/"], "is a directory"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--seed", "-1"], "seed: -1"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--max-tokens", "-1"], "max-tokens"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--max-seqs", "100000000"], "max-seqs"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--requests", "100000000"], "requests"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--dp", "100000"], "at most 1,024"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--output", "lognormal:mean=nan,sigma=1"],
     "mean='nan'"),
    (["simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "2", "--per-request", "/no/such/dir/r.csv"],
     "does not exist"),
    (["predict", "--model", "llama-3.1-8b", "--system", "-1xh100-sxm"], "is not an id"),
    (["predict", "--model", "llama-3.1-8b", "--system", "99999999xh100-sxm"], "at most 131,072"),
    (["ppa", "-m", "nonexist", "--chips", "h100-sxm"], "unknown id 'nonexist'"),
    (["design", "--chips", "-1", "--base", "h100-sxm", "--set", "memory.bandwidth=6TB/s", "-m", "llama-3.1-8b"],
     "chips: -1"),
    (["plan", "-m", "llama-3.1-8b", "--systems", "1xh100-sxm", "--workers", "-1"], "workers: -1"),
    (["plan", "-m", "llama-3.1-8b", "--systems", "1xh100-sxm", "--pareto", "/no/such/dir/p.html"], "does not exist"),
    (["calibrate", "--data", "nosuch.csv", "--out", "/"], "is a directory"),
    (["silicon", "--chip", "h100-sxm", "--wafer-price", "-1"], "wafer-price: -1"),
    (["silicon", "--chip", "h100-sxm", "--defect-density", "nan"], "defect-density: nan"),
    (["silicon", "--chip", "h100-sxm", "--hbm-stack-price", "inf"], "hbm-stack-price: inf"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    r = cli(*args)
    text = (r.stdout + r.stderr).strip()
    assert r.returncode == 2, text
    assert "Traceback" not in text
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr


def test_unknown_id_suggests_nearest(cli):
    r = cli("predict", "--model", "llama-3.1-70", "--system", "dgx-h100")
    assert "nearest: llama-3.1-70b" in r.stderr


def test_model_from_config_path(cli, tmp_path):
    from suanli.catalog import catalog

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(catalog().model("llama-3.1-70b").config))
    r = cli("predict", "--model", str(cfg), "--system", "dgx-h100", "--tp", "8", "--json")
    assert r.returncode == 0, r.stderr
    ref = cli("predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "8", "--json")
    assert json.loads(r.stdout)["tpot_ms"] == pytest.approx(json.loads(ref.stdout)["tpot_ms"])


def test_every_command_documents_its_options(cli):
    for cmd in (["predict"], ["compare"], ["catalog", "chips"]):
        r = cli(*cmd, "--help")
        assert r.returncode == 0
        assert "tokens" in r.stdout or "GB" in r.stdout or "vendor" in r.stdout


def test_predict_without_precision_takes_the_chips_own(cli):
    """An NPU that publishes only an INT8 rate is predicted at int8 (w8a8) when no precision is given, and says so;
    a GPU stays at bf16."""
    import json

    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", "1xrk3588", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["deployment"]["precision"] == "int8" and "precision not given" in j["notes"][0]
    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", "1xh100-sxm", "--json")
    assert json.loads(r.stdout)["deployment"]["precision"] == "bf16"
    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", "1xrk3588", "--precision", "bf16")
    assert r.returncode == 2 and "precisions it runs" in r.stderr  # asked for explicitly: refused, not replaced
