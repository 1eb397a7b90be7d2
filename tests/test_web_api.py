"""The HTTP API (suanli.web): the same numbers as the CLI, one-line 422s, uploads as data, jobs, guards."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from suanli.web.app import create_app  # noqa: E402

PREDICT = {"model": "llama-3.1-70b", "system": "dgx-h100", "tp": 8, "precision": "fp8", "batch": 64, "input": 2048,
           "output": 128}
CSV = ("id,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,scenario,input_len,output_len,"
       "concurrency,metric,value,unit\n") + """\
e1,rtx-4090,1,llama-3-8b,q4_k_m,f16,llama.cpp,1,1,batch,,512,1,decode_tok_s,120.5,tok/s
e2,rtx-4090,1,llama-3-8b,q4_k_m,f16,llama.cpp,1,1,batch,512,,1,prefill_tok_s,6000,tok/s
e3,jetson-agx-orin,1,llama-3-8b,q4_k_m,f16,llama.cpp,1,1,batch,,512,1,decode_tok_s,20,tok/s
"""


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("datasets")
    (d / "tiny.csv").write_text(CSV)
    return d


@pytest.fixture(scope="module")
def client(datasets):
    with TestClient(create_app(datasets=datasets)) as c:
        yield c


def one_line_422(r, *words: str) -> str:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    for w in words:
        assert w in detail, (w, detail)
    return detail


def close(a, b) -> None:
    """Equal numbers (to float rounding) in two JSON trees."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            close(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def test_predict_same_numbers_as_cli(client, cli):
    r = client.post("/api/predict", json=PREDICT)
    assert r.status_code == 200
    args = [f"--{k}={v}" for k, v in PREDICT.items()]
    c = cli("predict", *args, "--json")
    assert c.returncode == 0, c.stderr
    close(r.json(), json.loads(c.stdout))


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "text/plain", ""])
def test_a_body_that_is_not_declared_json_is_refused(client, ctype):
    """What a cross-site form can send (form-encoded, text/plain) never reaches the API; curl users are told the
    header to add."""
    r = client.post("/api/predict", content=json.dumps(PREDICT), headers={"content-type": ctype})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]


def test_a_cross_origin_post_is_refused(client):
    r = client.post("/api/predict", json=PREDICT, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "other sites" in r.json()["detail"]
    r = client.post("/api/predict", content=json.dumps(PREDICT),
                    headers={"origin": "https://evil.example", "content-type": "text/plain"})
    assert r.status_code == 403
    r = client.post("/api/predict", json=PREDICT, headers={"origin": "http://testserver"})  # the page itself
    assert r.status_code == 200


def test_report_links_only_to_web_pages(client):
    r = client.post("/api/report", json={"title": "t", "url": "javascript:alert(1)", "sections": []})
    assert r.status_code == 200 and 'href="javascript' not in r.text
    r = client.post("/api/report", json={"title": "t", "url": "http://localhost:8000/#compare", "sections": []})
    assert 'href="http://localhost:8000/#compare"' in r.text


@pytest.mark.parametrize("body,words", [
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "batch": 0}, ["batch", "0", "greater than or equal to 1"]),
    ({"model": "llama-9000b", "system": "dgx-h100"}, ["model", "llama-9000b", "nearest"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "tp": 3}, ["tp=3", "allowed tp"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "batch": "many"}, ["batch", "'many'", "integer"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "bacth": 4}, ["bacth", "unknown field"]),
    ({"model": "llama-3.1-70b", "system": "nope-9000"}, ["system", "nope-9000"]),
    ({"model": "../../etc/passwd.json", "system": "dgx-h100"}, ["paths are refused"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "precision": "fp3"}, ["precision", "fp3"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "speculative": "draft=../x/config.json:4"},
     ["speculative", "paths are refused"]),
    ({"model": "llama-3.1-70b", "system": "dgx-h100", "speculative": "mtp:3"}, ["speculative", "multi-token"]),
])
def test_predict_bad_requests_are_one_line_422(client, body, words):
    one_line_422(client.post("/api/predict", json=body), *words)


def test_predict_with_speculative_decoding_matches_the_cli(client, cli):
    body = {"model": "llama-3.1-8b", "system": "1xh100-sxm", "batch": 4, "speculative": "eagle:4:3"}
    r = client.post("/api/predict", json=body)
    assert r.status_code == 200, r.text
    c = cli("predict", *[f"--{k}={v}" for k, v in body.items()], "--json")
    close(r.json(), json.loads(c.stdout))
    assert "eagle, 4 draft token(s)" in r.json()["engine"]["paths"]["speculative"]


def test_predict_malformed_json(client):
    one_line_422(client.post("/api/predict", content=b'{"model": ', headers={"content-type": "application/json"}),
                 "not valid JSON")


def test_predict_does_not_fit_carries_the_prediction(client):
    r = client.post("/api/predict", json={"model": "llama-3.1-405b", "system": "1xh100-sxm"})
    one_line_422(r, "does not fit", "fewest chips")
    assert r.json()["result"]["fits"] is False


def test_predict_uploaded_config(client):
    from suanli.catalog import catalog

    config = catalog().model("llama-3.1-8b").config
    r = client.post("/api/predict", json={"model": "my-model", "system": "1xh100-sxm", "config": config})
    assert r.status_code == 200
    ref = client.post("/api/predict", json={"model": "llama-3.1-8b", "system": "1xh100-sxm"}).json()
    assert r.json()["model"] == "my-model"
    assert r.json()["tpot_ms"] == pytest.approx(ref["tpot_ms"])
    one_line_422(client.post("/api/predict", json={"model": "m", "system": "1xh100-sxm", "config": {"x": 1}}),
                 "config")


def test_compare_same_as_cli_and_detail(client, cli):
    body = {"model": "llama-3.1-8b", "systems": "dgx-h100,atlas-800-a2,1xrtx-4090", "input": 1024, "output": 256}
    r = client.post("/api/compare", json=body)
    c = cli("compare", "--model", "llama-3.1-8b", "--systems", body["systems"], "--input", "1024", "--output", "256",
            "--json")
    assert c.returncode == 0, c.stderr
    close(r.json(), json.loads(c.stdout))
    d = client.post("/api/compare", json={**body, "detail": True}).json()["systems"]
    assert [x["system"] for x in d] == [x["system"] for x in r.json()["systems"]]
    top = d[0]
    assert {"tok_s_per_w", "usd_per_mtok", "explain", "group"} <= set(top)
    assert top["explain"]["figures"] and top["explain"]["by_class"]["decode"]
    assert {x["group"] for x in d} >= {"datacenter", "china", "edge"}


def test_compare_whatif_twin(client):
    body = {"model": "llama-3.1-8b", "systems": ["dgx-h100"], "input": 1024, "output": 256,
            "whatif": {"chip": "h100-sxm", "set": "memory.bandwidth=x2"}}
    rows = client.post("/api/compare", json=body).json()["systems"]
    ids = {r["system"]: r for r in rows}
    assert "dgx-h100+whatif" in ids
    assert ids["dgx-h100+whatif"]["tpot_ms"] < ids["dgx-h100"]["tpot_ms"]
    one_line_422(client.post("/api/compare", json={**body, "whatif": {"chip": "h100-sxm", "set": "bandwidth=fast"}}),
                 "set")
    one_line_422(client.post("/api/compare", json={**body, "rank_by": "speed"}), "rank-by")


def test_catalog(client):
    chips = client.get("/api/catalog/chips", params={"vendor": "huawei"}).json()["chips"]
    assert chips and all(c["vendor"] == "huawei" for c in chips)
    assert all("sources" in c and "figures" in c for c in chips)
    one_line_422(client.get("/api/catalog/chips", params={"class": "gpu"}), "class", "datacenter")
    show = client.get("/api/catalog/show/h100-sxm").json()
    assert show["kind"] == "chip" and show["figures"]["memory.bandwidth_gb_s"]["sources"]
    one_line_422(client.get("/api/catalog/show/h100-sxn"), "unknown id", "h100-sxm")
    assert client.get("/api/catalog/systems").json()["systems"]
    assert any(m["id"] == "llama-3.1-70b" for m in client.get("/api/catalog/models").json()["models"])


SIM = {"model": "llama-3.1-8b", "system": "1xh100-sxm", "precision": "fp8", "rate": 5, "requests": 300, "seed": 1}


def test_simulate_same_as_cli_with_series(client, cli):
    r = client.post("/api/simulate", json={**SIM, "series": True})
    assert r.status_code == 200
    s = r.json()
    c = cli("simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--precision", "fp8", "--rate", "5",
            "--requests", "300", "--seed", "1", "--json")
    ref = json.loads(c.stdout)
    for key in ("ttft_ms", "tpot_ms", "e2e_s", "throughput"):
        close(s[key], ref[key])
    ser = s["series"]
    assert len(ser["cdf"]["ttft_ms"]["x"]) == 201 and ser["cdf"]["ttft_ms"]["y"][-1] == 1.0
    assert len(ser["time_s"]) == len(ser["output_tok_s"]) == len(ser["waiting"])
    total = sum(ser["output_tok_s"]) * (ser["time_s"][1] - ser["time_s"][0])
    assert total == pytest.approx(300 * 128, rel=0.01)  # every generated token is counted once


def test_simulate_refuses_files_and_reads_traces_as_data(client):
    one_line_422(client.post("/api/simulate", json={**SIM, "input": "empirical:/etc/passwd"}), "empirical")
    one_line_422(client.post("/api/simulate", json={**SIM, "trace": "/tmp/x.csv"}), "trace", "unknown field")
    trace = "arrival_s,input_tokens,output_tokens\n0.0,100,20\n0.5,200,30\n1.0,150,10\n"
    s = client.post("/api/simulate", json={**SIM, "trace_csv": trace}).json()
    assert s["completed"] == 3 and s["trace"] == "uploaded"
    one_line_422(client.post("/api/simulate", json={**SIM, "trace_csv": "a,b\n1,2\n"}), "trace", "lacks a column")
    one_line_422(client.post("/api/simulate", json={**SIM, "trace_csv": "arrival_s,input_tokens,output_tokens\n"
                                                                        "x,1,1\n"}), "non-numeric")
    one_line_422(client.post("/api/simulate", json={**SIM, "requests": 10_000_000}), "requests")


def test_validate_upload_and_dataset(client):
    r = client.post("/api/validate", json={"csv": CSV, "by": "hardware"})
    assert r.status_code == 200
    j = r.json()
    assert len(j["rows"]) == 3 and {"family", "engine_family"} <= set(j["rows"][0])
    assert j["summary"]["groups"]
    assert client.get("/api/validate/datasets").json()["datasets"] == ["tiny"]
    assert len(client.post("/api/validate", json={"dataset": "tiny"}).json()["rows"]) == 3
    one_line_422(client.post("/api/validate", json={"dataset": "../../etc/passwd"}), "not offered")
    one_line_422(client.post("/api/validate", json={"csv": "hello,world\n1,2\n"}), "lacks required column")
    one_line_422(client.post("/api/validate", json={"csv": CSV.replace("llama-3-8b", "/etc/x.json", 1)}),
                 "paths are refused")
    one_line_422(client.post("/api/validate", json={}), "either")
    one_line_422(client.post("/api/validate", json={"csv": CSV, "by": "colour"}), "by")


def test_econ_endpoints(client, cli):
    r = client.post("/api/silicon", json={"die_area": 800, "node": "7nm"}).json()
    c = json.loads(cli("silicon", "--die-area", "800", "--node", "7nm", "--json").stdout)
    close(r, c)
    one_line_422(client.post("/api/silicon", json={"die_area": -5, "node": "7nm"}), "die-area")
    one_line_422(client.post("/api/silicon", json={"die_area": 100, "node": "1.5nm"}), "node")
    pts = client.post("/api/silicon/sweep", json={"node": "5nm", "areas": [100, 400, 800]}).json()["points"]
    assert [p["die_area_mm2"] for p in pts] == [100, 400, 800]
    assert pts[0]["cost_per_good_die_usd"] < pts[2]["cost_per_good_die_usd"]
    tpp = {x["id"]: x["tpp"] for x in client.post("/api/policy", json={"chips": "h100-sxm,h20"}).json()["chips"]}
    assert tpp["h100-sxm"] == pytest.approx(15832, rel=0.01)
    cost = client.post("/api/cost", json={"model": "llama-3.1-70b", "system": "dgx-h100", "tp": 8, "batch": 64})
    assert cost.json()["usd_per_mtok"]["blended"] > 0
    assert client.post("/api/ppa", json={"chips": "h100-sxm"}).json()["chips"][0]["tpp"]
    iso = client.post("/api/isoperf", json={"model": "llama-3.1-8b", "target": "dgx-h100", "candidate": "1xa100-sxm"})
    assert iso.json()["chips_needed"] >= 1


def test_design_never_saves(client, _isolated_home):
    r = client.post("/api/design", json={"base": "h100-sxm", "set": "memory.bandwidth=6TB/s"})
    assert r.status_code == 200 and r.json()["saved"] is None
    assert not (_isolated_home / "catalog").exists() or not any((_isolated_home / "catalog").rglob("*.yaml"))
    one_line_422(client.post("/api/design", json={"base": "h100-sxm", "set": "save=1"}), "set")
    one_line_422(client.post("/api/design", json={"base": "h100-sxm", "set": "x", "save": "mine"}), "save")


def wait(client, job_id: str, timeout: float = 120) -> dict:
    t = time.time()
    while time.time() - t < timeout:
        j = client.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_jobs_run_report_and_cancel(client):
    r = client.post("/api/jobs/simulate", json=SIM)
    assert r.status_code == 202
    j = wait(client, r.json()["id"])
    assert j["status"] == "done" and j["result"]["completed"] == 300 and "series" in j["result"]
    big = client.post("/api/jobs/simulate", json={**SIM, "rate": 50, "requests": 200_000}).json()
    time.sleep(0.5)
    c = client.post(f"/api/jobs/{big['id']}/cancel", json={})
    assert c.status_code == 200
    assert wait(client, big["id"], 30)["status"] == "cancelled"
    one_line_422(client.post("/api/jobs/simulate", json={**SIM, "model": "llama-9000b"}), "model")
    one_line_422(client.post("/api/jobs/mine", json={}), "kind")
    one_line_422(client.get("/api/jobs/nope"), "unknown id")
    assert any(x["id"] == big["id"] for x in client.get("/api/jobs").json()["jobs"])


def test_plan_endpoint_or_clear_501(client):
    from suanli.web.planning import missing

    status = client.get("/api/plan/status").json()
    assert status["available"] == (missing() is None)
    body = {"model": "llama-3.1-8b", "systems": "1xh100-sxm", "input": 512, "output": 128, "confirm": 0,
            "executor": "serial"}
    r = client.post("/api/plan", json=body)
    if not status["available"]:
        assert r.status_code == 501 and "planner" in r.json()["detail"]
        return
    assert r.status_code == 200 and r.json()["systems"][0]["system"] == "1xh100-sxm"
    one_line_422(client.post("/api/plan", json={**body, "calibration": "/etc/x.yaml"}), "not allowed")
    one_line_422(client.post("/api/plan", json={**body, "ray": "10.0.0.1:6379"}), "ray")
    one_line_422(client.post("/api/plan", json={**body, "model": "llama-9000b"}), "model")


def test_plan_missing_degrades(client, monkeypatch):
    from suanli.web import planning

    def gone():
        raise planning.PlannerMissing("the planner (suanli.plan) is not in this build yet: test")

    monkeypatch.setattr(planning, "_planner", gone)
    assert client.get("/api/plan/status").json() == {"available": False, "detail": planning.missing()}
    for path in ("/api/plan", "/api/jobs/plan"):
        r = client.post(path, json={"model": "llama-3.1-8b", "systems": "dgx-h100"})
        assert r.status_code == 501 and "not in this build" in r.json()["detail"]


def test_limits_hosts_and_errors(client, datasets):
    big = b'{"csv": "' + b"a" * (6 * 1024 * 1024) + b'"}'
    r = client.post("/api/validate", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "5 MB" in r.json()["detail"]
    with TestClient(create_app(hosts={"127.0.0.1", "localhost"}), base_url="http://evil.example") as c:
        assert c.get("/api/health").status_code == 400
    with TestClient(create_app(hosts={"127.0.0.1", "localhost"}), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/health").status_code == 200
    app = create_app()

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("kaput\nsecond line")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom")
        assert r.status_code == 500 and r.json()["detail"] == "internal error: RuntimeError: kaput"


def test_pages_docs_and_report(client):
    r = client.get("/")
    assert r.status_code == 200 and "/vendor/plotly.min.js" in r.text
    assert "cdn" not in r.text.lower()
    assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/vendor/plotly.min.js").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/predict", "/api/compare", "/api/simulate", "/api/validate", "/api/plan", "/api/cost",
              "/api/ppa", "/api/silicon", "/api/policy", "/api/design", "/api/isoperf", "/api/catalog/chips"):
        assert p in paths, p
    rep = client.post("/api/report", json={"title": "t <script>x</script>", "sections": [
        {"title": "chart", "figure": {"data": [{"type": "bar", "x": ["a"], "y": [1], "name": "</script>"}],
                                      "layout": {}}},
        {"title": "table", "columns": ["a", "b"], "rows": [[1, "<b>"]]}]})
    assert rep.status_code == 200
    html = rep.text
    assert "Plotly.newPlot" in html and "t &lt;script&gt;" in html and "&lt;b&gt;" in html
    assert "</script>\"" not in html and len(html) > 1_000_000  # plotly inlined: opens offline


def test_engines_and_stack_over_http(client):
    ids = {e["id"] for e in client.get("/api/engines").json()["engines"]}
    assert {"vllm", "mindie", "vllm-ascend", "trt-llm"} <= ids
    r = client.post("/api/stack", json={"model": "qwen3-32b", "system": "atlas-800-a2", "input": 512, "output": 128,
                                        "engines": "mindie,vllm-ascend==0.13.0"})
    assert r.status_code == 200, r.text
    rows = r.json()["engines"]
    assert [x["engine"] for x in rows] == ["mindie", "vllm-ascend==0.13.0"] and all(x["sources"] for x in rows)
    one_line_422(client.post("/api/stack", json={"model": "qwen3-32b", "system": "atlas-800-a2", "engines": "vlm"}),
                 "engine", "vlm")
    p = client.post("/api/predict", json={**PREDICT, "engine": "vllm==0.9.2"}).json()
    assert p["engine"]["id"] == "vllm" and p["engine"]["version"] == "0.9.2"


def test_the_job_queue_is_bounded():
    from suanli.web.jobs import Jobs, QueueFull

    jobs = Jobs(workers=1, pending=2)
    jobs._run = lambda job: None  # keep them queued: this tests the table, not the children
    jobs.submit("simulate", {}), jobs.submit("simulate", {})
    with pytest.raises(QueueFull, match="POST /api/jobs/ID/cancel"):
        jobs.submit("simulate", {})


@pytest.mark.parametrize("extra,words", [
    ({"systems": [f"{i}xh100-sxm" for i in range(1, 40)]}, ["at most 16"]),
    ({"batches": [10 ** 9]}, ["batches"]),
    ({"confirm": 10 ** 6}, ["confirm"]),
    ({"ratios": [[1, 10 ** 6]]}, ["ratios"]),
])
def test_plan_options_that_multiply_the_search_are_bounded(client, extra, words):
    body = {"model": "llama-3.1-8b", "systems": ["1xh100-sxm"], "input": 1024, "output": 128, "confirm": 0, **extra}
    one_line_422(client.post("/api/plan", json=body), *words)


def test_huge_prompts_are_refused_fast_and_the_server_keeps_answering(client):
    import time

    body = {"model": "llama-3.1-8b", "system": "dgx-h100", "input": 99_999_999_999}
    for _ in range(50):
        t = time.perf_counter()
        r = client.post("/api/predict", json=body)
        assert r.status_code == 422 and time.perf_counter() - t < 1.0
    assert client.get("/api/health").status_code == 200


def test_plan_emit_files_and_refusals(client):
    plan = {"model": "llama-3.1-8b", "input": 512, "output": 128, "systems": [{
        "system": "1xh100-sxm", "chip": "h100-sxm", "engine": {"id": "vllm", "name": "vLLM", "version": None},
        "best": {"label": "tp=1 pp=1 fp8, kv fp8", "tp": 1, "pp": 1, "ep": 1, "dp": 1, "precision": "fp8",
                 "kv_precision": "fp8", "max_batch": 256, "token_budget": 8192, "disaggregated": False,
                 "output_tok_s_per_chip": 9000.0, "ttft_p99_ms": 200.0, "tpot_p99_ms": 20.0, "instances": 2,
                 "unit_chips": 1, "memory_utilization": 0.9}}]}
    r = client.post("/api/plan/emit", json={"engine": "vllm", "plan": plan})
    assert r.status_code == 200, r.text
    files = r.json()["files"]
    assert "--max-num-seqs 256" in files["launch.sh"] and "plan.json" in files
    one_line_422(client.post("/api/plan/emit", json={"engine": "ollama", "plan": plan}), "emit")
    one_line_422(client.post("/api/plan/emit", json={"engine": "vllm", "plan": {"systems": "x"}}), "plan")
    one_line_422(client.post("/api/plan/emit", json={"engine": "vllm", "plan": {"model": "llama-3.1-8b",
                                                                                "systems": [{"best": {}}]}}), "plan")


def test_predict_takes_a_power_limit_as_the_cli_does(client, cli):
    body = {**PREDICT, "power_limit": 400}
    r = client.post("/api/predict", json=body)
    assert r.status_code == 200, r.text
    c = cli("predict", *[f"--{k}={v}" for k, v in PREDICT.items()], "--power-limit=400", "--json")
    assert c.returncode == 0, c.stderr
    close(r.json(), json.loads(c.stdout))
    assert any("power limit 400 W" in n for n in r.json()["notes"])
    one_line_422(client.post("/api/predict", json={**PREDICT, "power_limit": -1}), "power_limit")
