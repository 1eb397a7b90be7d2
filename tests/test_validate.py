"""Validation: every row predicted or skipped with a reason, strict reading of bad files, JSON shape."""

import json

import pytest
from conftest import SHARED

from suanli.schema import SuanliError
from suanli.validate.data import load_rows
from suanli.validate.run import validate

PUBLIC = SHARED / "groundtruth" / "public.csv"
HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,input_len,"
          "output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")


def _csv(tmp_path, body: str, header: str = HEADER):
    p = tmp_path / "m.csv"
    p.write_text(header + "\n" + body)
    return p


@pytest.mark.skipif(not PUBLIC.exists(), reason="shared ground truth not present")
def test_every_public_row_is_predicted_or_skipped_with_a_reason():
    result = validate(PUBLIC)
    rows = result["rows"]
    with PUBLIC.open() as fh:
        n = sum(1 for _ in fh) - 1
    assert len(rows) == n
    skipped = [r for r in rows if r["predicted"] is None]
    assert all(r["skipped_reason"] for r in skipped)
    assert all(r["ape"] is not None for r in rows if r["predicted"] is not None)
    assert len(skipped) <= 0.05 * n
    overall = result["summary"]["overall"]
    assert overall["throughput"]["predicted"] + overall["throughput"]["skipped"] == overall["throughput"]["rows"]


def test_user_file_with_extra_columns_and_defaults(tmp_path):
    body = ("r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,trt-llm,8,,,,offline,1000,1000,,,,,output_tok_s,10730,tok/s,x\n"
            "r2,me,,h100-sxm,1,llama-3.1-8b,,,,,,,,batch,128,128,1,,,,ttft_mean_ms,12,ms,y\n")
    p = _csv(tmp_path, body.replace("\n", ",extra\n"), HEADER + ",my_column")
    result = validate(p)
    assert [r["id"] for r in result["rows"]] == ["r1", "r2"]
    assert all(r["predicted"] for r in result["rows"])
    assert any("precision bf16 assumed" in a for a in result["rows"][1]["assumptions"])


def test_unknown_hardware_is_skipped_not_crashed(tmp_path):
    p = _csv(tmp_path, "r1,me,,tpu-v99,8,llama-3.1-70b,bf16,,,,,,,offline,100,100,,,,,output_tok_s,10,tok/s,\n")
    r = validate(p)["rows"][0]
    assert r["predicted"] is None and "unknown id 'tpu-v99'" in r["skipped_reason"]


@pytest.mark.parametrize("body,header,needle", [
    ("", HEADER, "no rows"),
    ("r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,,,,,,offline,1000,1000,,,,,output_tok_s,abc,tok/s,\n", HEADER,
     "line 2 column value: 'abc' is not a number"),
    ("r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,,,,,,sometimes,1000,1000,,,,,output_tok_s,1,tok/s,\n", HEADER,
     "line 2 column scenario: unknown scenario 'sometimes'"),
    ("r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,,,,,,offline,1000,1000,,,,,speed,1,tok/s,\n", HEADER,
     "line 2 column metric: unknown metric 'speed'"),
    ("r1,h100-sxm\n", "id,hardware", "lacks required column"),
    ("r1,me,,h100-sxm,8.5,llama-3.1-70b,fp8,,,,,,,offline,1000,1000,,,,,output_tok_s,1,tok/s,\n", HEADER,
     "line 2 column n_accel"),
])
def test_bad_files_name_row_and_column(tmp_path, body, header, needle):
    with pytest.raises(SuanliError, match=needle.replace("(", r"\(")):
        load_rows(_csv(tmp_path, body, header))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(SuanliError, match="empty"):
        load_rows(p)


def test_cli_json_and_errors(cli, tmp_path):
    body = "r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,trt-llm,8,,,,offline,1000,1000,,,,,output_tok_s,10730,tok/s,x\n"
    r = cli("validate", "--data", str(_csv(tmp_path, body)), "--by", "hardware,model", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    row = j["rows"][0]
    assert set(row) >= {"id", "metric", "measured", "predicted", "ape", "skipped_reason"}
    assert 0 <= row["ape"] < 1
    assert "summary" in j and "throughput" in j["summary"]["overall"]
    bad = _csv(tmp_path, "r1,me,,h100-sxm,8,llama-3.1-70b,fp8,,,,,,,offline,1,1,,,,,output_tok_s,zz,tok/s,\n")
    r = cli("validate", "--data", str(bad))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "column value" in r.stderr
    r = cli("validate", "--data", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "not found" in r.stderr


def test_rate_rows_are_scored_over_the_whole_run(tmp_path):
    """A finite Poisson run is scored as benchmark_serving scores it, completions over first arrival to last
    completion: an overloaded engine cannot beat its own capacity, a light load returns what was offered."""
    from suanli.perf.factors import bundled_calibration
    from suanli.validate.deploy import _deployments
    from suanli.validate.scenarios import _cap, rate, steady
    from suanli.validate.sources import setup_of

    head = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
            "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes\n")
    p = tmp_path / "rate.csv"
    p.write_text(head + "a,x,,h100-sxm,4,llama-3.1-70b,bf16,,trt-llm,4,1,1,1,rate,202,214,,32,,,output_tok_s,1,"
                        "tok/s,Poisson arrivals, 500 requests\n"
                        "b,x,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,rate,200,200,,1,,,output_tok_s,1,tok/s,"
                        "Poisson arrivals, 300 requests\n")
    cal = bundled_calibration()
    heavy, light = (setup_of(r)[0] for r in load_rows(p))
    dep = _deployments(heavy, cal)[0]
    capacity = steady(dep, _cap(dep, heavy, 4096), heavy).out_tok_s
    assert rate(_deployments(heavy, cal), heavy, cal).out_tok_s <= 1.02 * capacity
    offered = light.rate * light.output_len
    assert rate(_deployments(light, cal), light, cal).out_tok_s == pytest.approx(offered, rel=0.2)


def test_bundled_measurements_are_the_shared_files(tmp_path, monkeypatch):
    """The package's copies (validate --data public, serving, edge, ops) are byte for byte the project's files."""
    import gzip
    from pathlib import Path

    from suanli.validate.bundled import HERE, SETS, data_path

    monkeypatch.setenv("SUANLI_HOME", str(tmp_path))
    for name, file in SETS.items():
        shipped = gzip.decompress((HERE / f"{file}.gz").read_bytes())
        assert Path(data_path(name)).read_bytes() == shipped
        assert (SHARED / "groundtruth" / file).read_bytes() == shipped, f"{file}: re-copy it into {HERE}"


def test_every_documented_metric_in_every_scenario_is_predicted_or_skipped_with_a_reason(tmp_path):
    """One row of each metric the format documents, in each scenario, plus a prefill-only (one output token) and a
    decode-only (a disaggregated decode pool's rate) row: validate answers every one, never crashes."""
    from suanli.validate.data import METRICS, SCENARIOS

    rows, i = [], 0
    for scenario in SCENARIOS:
        conc = {"concurrency": "16", "batch": "8", "offline": "", "server": "", "interactive": "", "rate": ""}
        rate = "4" if scenario == "rate" else ""
        slo = ("2000", "100") if scenario in ("server", "interactive") else ("", "")
        for metric in METRICS:
            i += 1
            rows.append(f"m{i},me,,h100-sxm,8,llama-3.1-70b,fp8,,vllm 0.11.0,8,,,,{scenario},2048,256,"
                        f"{conc[scenario]},{rate},{slo[0]},{slo[1]},{metric},100,,")
    rows.append("p1,me,,h100-sxm,8,llama-3.1-70b,fp8,,vllm 0.11.0,8,,,,offline,4096,1,,,,,prefill_tok_s_per_accel,"
                "5000,tok/s,prefill only")
    rows.append("d1,me,,h100-sxm,8,llama-3.1-70b,fp8,,vllm 0.11.0,8,,,,concurrency,4096,1024,64,,,,"
                "decode_tok_s_per_accel,500,tok/s,decode only")
    path = _csv(tmp_path, "\n".join(rows) + "\n")
    result = validate(path)
    assert len(result["rows"]) == len(rows) == len(SCENARIOS) * len(METRICS) + 2
    for r in result["rows"]:
        assert (r["predicted"] is not None and r["predicted"] > 0) or r["skipped_reason"], r
    answered = sum(r["predicted"] is not None for r in result["rows"])
    assert answered >= 0.8 * len(rows), answered
