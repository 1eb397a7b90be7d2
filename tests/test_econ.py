"""suanli.econ: hand-computed silicon, yield, TPP and TCO figures; power bounds; what-if chips; the CLI end to end.

Chips, systems and models that other catalog work adds later are looked up with `need(...)`, which skips naming the
missing id until it exists.
"""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog import catalog
from suanli.econ.defaults import ASSUMPTION, Ledger, load
from suanli.econ.policy import class_2022, class_2023, classify, tpp
from suanli.econ.power import ChipPower, Energy, energy_of
from suanli.econ.run import Ask, run_on
from suanli.econ.silicon import dies_per_wafer, node_key, silicon_cost, yields
from suanli.econ.tco import Rates, hourly, usd_per_mtok
from suanli.econ.whatif import derive, parse_value, save
from suanli.schema import Chip, SuanliError


def need(*ids: str, kind: str = "chip") -> None:
    cat = catalog()
    for i in ids:
        try:
            cat.resolve(kind, i)
        except SuanliError:
            pytest.skip(f"{kind} {i!r} is not in the catalog yet")


def toy_chip(**kw) -> Chip:
    base = dict(id="toy", name="Toy", vendor="test", category="datacenter", family="nvidia-hopper")
    return Chip(**{**base, **kw})


# --- silicon: dies per wafer and yield, by hand ------------------------------------------------------------
@pytest.mark.parametrize("area, expected", [
    # pi*150^2/S - pi*300/sqrt(2S)
    (814, 70685.835 / 814 - 942.478 / math.sqrt(1628)),  # = 63.48 (GH100; hardware notes 4.4 table: 63.5)
    (800, 88.357 - 23.562),  # = 64.80
    (100, 706.858 - 66.643),  # = 640.22
])
def test_dies_per_wafer_by_hand(area, expected):
    assert dies_per_wafer(area) == pytest.approx(expected, abs=0.01)


def test_dies_per_wafer_edge_exclusion_by_hand():
    # 3 mm rim: d = 294 -> pi*147^2/800 - pi*294/40 = 84.853 - 23.091
    assert dies_per_wafer(800, 300, 3) == pytest.approx(61.76, abs=0.01)


def test_yield_models_by_hand():
    # GH100 814 mm^2 = 8.14 cm^2 at D0 = 0.1/cm^2: AD = 0.814
    y = yields(814, 0.1, alpha=2)
    assert y["poisson"] == pytest.approx(math.exp(-0.814), rel=1e-9)  # 0.4431
    assert y["poisson"] == pytest.approx(0.4431, abs=1e-4)
    assert y["murphy"] == pytest.approx(((1 - math.exp(-0.814)) / 0.814) ** 2, rel=1e-9)
    assert y["murphy"] == pytest.approx(0.4681, abs=1e-4)
    assert y["negative-binomial"] == pytest.approx(1 / 1.407 ** 2, rel=1e-9)  # 0.5051
    assert y["seeds"] == pytest.approx(1 / 1.814, rel=1e-9)
    # Ascend 910B die, hardware notes 4.4 table: 0.514 / 0.533 / 0.563
    y = yields(665.6, 0.1, alpha=2)
    assert (round(y["poisson"], 3), round(y["murphy"], 3), round(y["negative-binomial"], 3)) == (0.514, 0.533, 0.563)


@settings(max_examples=60, deadline=None)
@given(area=st.floats(10, 900), d0=st.floats(0.001, 1.0), alpha=st.floats(1.0, 50.0))
def test_yield_properties(area, d0, alpha):
    y = yields(area, d0, alpha)
    assert all(0 < v <= 1 for v in y.values())
    assert y["poisson"] <= y["murphy"] + 1e-12  # Murphy never below Poisson
    assert y["poisson"] - 1e-12 <= y["negative-binomial"] <= y["seeds"] + 1e-12  # alpha in [1, inf)
    assert yields(area, d0 * 1.5, alpha)["negative-binomial"] < y["negative-binomial"]
    assert yields(area, d0, 1.0)["negative-binomial"] == pytest.approx(y["seeds"])
    assert yields(area, d0, 1e7)["negative-binomial"] == pytest.approx(y["poisson"], rel=1e-4)


def test_silicon_cost_by_hand():
    r = silicon_cost(800, "7nm", wafer_price=10000, defect_density=0.1, hbm_stacks=8, volume=100000)
    assert r["dies_per_wafer"] == 64
    y = (1 + 0.8 / 2) ** -2  # negative binomial, alpha 2, AD = 8 cm^2 x 0.1
    assert r["cost_per_good_die_usd"] == pytest.approx(10000 / (64 * y))  # 306.25
    assert r["cost_per_good_die_usd"] == pytest.approx(306.25)
    # (die + 8 stacks x $280 + CoWoS-S $750 + test/assembly $920) / 0.98 package yield
    assert r["packaged_cost_usd"] == pytest.approx((306.25 + 8 * 280 + 750 + 920) / 0.98)
    assert r["nre_per_unit_usd"] == pytest.approx(300e6 / 1e5)
    assert r["unit_cost_usd"] == pytest.approx(r["packaged_cost_usd"] + 3000)


def test_nodes_and_errors():
    assert node_key("7nm") == ("7nm", "7nm")
    assert node_key("N7")[0] == node_key(7.0)[0] == "7nm"
    assert node_key("4N") == ("5nm", "4nm")  # TSMC 4N borrows the 5nm family's figures
    with pytest.raises(SuanliError, match="node.*allowed: .*7nm"):
        node_key("11nm")
    with pytest.raises(SuanliError, match="die-area"):
        silicon_cost(-5, "7nm")
    r = silicon_cost(600, "4nm")
    assert "5nm family" in r["assumptions"]["wafer_price_usd"]["source"]


# --- policy ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chip_id, published", [("h100-sxm", 15832), ("a100-sxm", 4992), ("h20", 2368)])
def test_tpp_as_published(chip_id, published):
    # Published TPP: H100 15,832 (and PD 19.4, tweaktown 95224), A100 4,992, H20 2,368 (hardware notes sec. 3;
    # BIS 3A090 definition TPP = 2 x MacTOPS x bit length via chipclaims.com / lenzo.ai)
    need(chip_id)
    t = tpp(catalog().chip(chip_id))
    assert t == pytest.approx(published, rel=0.02)
    assert t == pytest.approx(published, abs=1.0)  # the exact product of the dense rate and its bit length


def test_tpp_from_rates_and_unknowns():
    assert tpp(toy_chip(matrix_tflops={"fp8": 1978.9, "bf16": 989.4})) == pytest.approx(15831.2)
    assert tpp(toy_chip(matrix_tflops={"int8": 624, "bf16": 312})) == 4992
    assert tpp(toy_chip(vector_tflops={"fp32": 50})) is None  # no rate of 16 bits or fewer: unknown, not a guess
    assert tpp(toy_chip()) is None
    row = classify(toy_chip(matrix_tflops={"bf16": 150}))  # TPP 2400, no die area
    assert row["performance_density"] is None and row["class"].startswith("unknown")


@pytest.mark.parametrize("t, pd, expected", [
    (5000, None, "3A090.a"), (2000, 6.0, "3A090.a"), (2500, 2.0, "3A090.b"), (2000, 3.5, "3A090.b"),
    (2368, 2.9, "below 3A090 thresholds"), (1500, 10.0, "below 3A090 thresholds"), (2000, None, "unknown"),
    (None, None, "unknown"),
])
def test_oct_2023_classes(t, pd, expected):
    assert class_2023(t, pd).startswith(expected)


def test_oct_2022_needs_io():
    assert class_2022(4992, 600) == "3A090"
    assert class_2022(4992, 400).startswith("below")  # A800: NVLink capped at 400 GB/s
    assert class_2022(2368, None).startswith("below")
    assert class_2022(5000, None).startswith("unknown")


def test_policy_catalog_chips():
    need("h100-sxm")
    row = classify(catalog().chip("h100-sxm"))
    assert row["class"] == "3A090.a" and row["performance_density"] == pytest.approx(19.45, abs=0.01)
    assert row["by_rule"]["oct-2022"] == "3A090" and row["by_rule"]["dec-2024-hbm-3a090c"] is True
    for c in catalog().chips.values():  # every catalog chip gets a row without error
        assert set(classify(c)) >= {"id", "tpp", "performance_density", "hbm_bandwidth_density", "class", "rule"}


# --- TCO by hand -------------------------------------------------------------------------------------------
def toy_energy() -> Energy:
    # 1 chip, TDP 1000 W, idle 100 W; prefill 1 s at activity 1 (1000 W), decode 3 s at 0.5 (550 W)
    return Energy(chips=1, chip=ChipPower(1000, 100), overhead_w=0.0, prefill_s=1.0, decode_s=3.0,
                  prefill_activity=1.0, decode_activity=0.5, input_tokens=1000, output_tokens=3000)


def test_usd_per_mtok_by_hand():
    e = toy_energy()
    assert e.prefill_j == 1000 and e.decode_j == 1650 and e.serving_it_w == pytest.approx(662.5)
    r = Rates(years=1, utilization=1.0, electricity_usd_per_kwh=0.1, pue=1.5, facility_usd_per_kw_month=0)
    h = hourly(e, capex_chip=8760.0, provisioned_w=1000, r=r)
    assert h.capex == pytest.approx(1.0)  # $8760 over 8760 hours
    assert h.energy == pytest.approx(0.6625 * 0.1 * 1.5)  # 0.6625 kW x $0.1 x PUE 1.5
    assert h.tokens == pytest.approx(3600 * 4000 / 4)  # 3.6 Mtok per hour
    u = usd_per_mtok(e, h, r)
    assert u["blended"] == pytest.approx((1.0 + 0.099375) / 3.6)  # 0.30538
    j = 0.1 * 1.5 / 3.6e6  # $ per joule at the wall
    assert u["input"] == pytest.approx((1 / 3600 + 1000 * j) / 1000 * 1e6)  # 0.31944
    assert u["output"] == pytest.approx((3 / 3600 + 1650 * j) / 3000 * 1e6)  # 0.30069
    assert u["blended"] == pytest.approx((u["input"] * 1000 + u["output"] * 3000) / 4000)


def test_utilization_and_facility_by_hand():
    e = toy_energy()
    r = Rates(years=2, utilization=0.5, electricity_usd_per_kwh=0.1, pue=1.0, facility_usd_per_kw_month=100)
    h = hourly(e, capex_chip=17520.0, provisioned_w=2000, r=r)
    assert h.capex == pytest.approx(1.0)
    assert h.facility == pytest.approx(100 * 2 * 12 / 8760)
    assert h.energy == pytest.approx((0.5 * 0.6625 + 0.5 * 0.1) * 0.1)  # serving half the hours, idle the rest
    assert h.tokens == pytest.approx(0.5 * 3.6e6)
    assert usd_per_mtok(e, h, r)["blended"] == pytest.approx(h.total / 1.8)


# --- power and energy on real predictions ------------------------------------------------------------------
def _run(batch: int, input: int, output: int, tp: int = 8):
    need("h100-sxm")
    need("dgx-h100", kind="system")
    cat = catalog()
    s = cat.system("dgx-h100")
    return run_on(Ask("llama-3.1-70b", input, output, batch, tp=tp), cat.chips[s.chip], s)


@settings(max_examples=15, deadline=None)
@given(batch=st.sampled_from([1, 4, 32, 128]), input=st.integers(16, 8192), output=st.integers(1, 2048))
def test_energy_never_below_idle_bound(batch, input, output):
    run = _run(batch, input, output)
    e = energy_of(run, Ledger())
    idle = e.chips * e.chip.idle_w
    assert 0 <= e.prefill_activity <= 1 and 0 <= e.decode_activity <= 1
    assert e.prefill_j >= idle * e.prefill_s - 1e-9
    assert e.decode_j >= idle * e.decode_s - 1e-9
    assert e.per_token()["per_token"] * (e.input_tokens + e.output_tokens) >= idle * e.cycle_s - 1e-6
    top = e.chips * e.chip.tdp_w + e.overhead_w
    assert e.prefill_j <= top * e.prefill_s + 1e-9 and e.decode_j <= top * e.decode_s + 1e-9


def test_memory_bound_decode_draws_less_than_prefill():
    e = energy_of(_run(1, 4096, 256), Ledger())
    assert e.decode_activity < e.prefill_activity


# --- what-if chips -----------------------------------------------------------------------------------------
def test_parse_values():
    assert parse_value("6TB/s", "bandwidth", 3350, "f") == 6000
    assert parse_value("x1.5", "bandwidth", 3350, "f") == pytest.approx(5025)
    assert parse_value("1.2PFLOPS", "compute", None, "f") == pytest.approx(1200)
    assert parse_value("1kW", "power", None, "f") == 1000
    with pytest.raises(SuanliError, match="not a value"):
        parse_value("6 furlongs", "bandwidth", None, "f")


def test_derive_and_errors():
    need("h100-sxm")
    base = catalog().chip("h100-sxm")
    chip, changes = derive(base, "memory.bandwidth=6TB/s,compute.bf16=500,tdp=x1.2")
    assert chip.memory.bandwidth_gb_s == 6000 and chip.matrix_tflops["bf16"] == 500
    assert chip.tdp_w == pytest.approx(840) and chip.matrix_tflops["fp8"] == base.matrix_tflops["fp8"]
    assert chip.aliases == [] and chip.id == "h100-sxm-whatif"
    assert "what-if" in chip.sources_of("memory.bandwidth_gb_s")[0]
    assert chip.sources_of("memory.capacity_gb") == base.sources_of("memory.capacity_gb")
    assert chip.uncited() == []
    assert {c["field"] for c in changes} == {"memory.bandwidth_gb_s", "matrix_tflops.bf16", "tdp_w"}
    with pytest.raises(SuanliError, match="unknown field 'warp_drive'.*allowed"):
        derive(base, "warp_drive=9")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path))
    catalog.cache_clear()
    yield tmp_path
    catalog.cache_clear()


def test_save_whatif_to_user_catalog(home):
    need("h100-sxm")
    chip, _ = derive(catalog().chip("h100-sxm"), "memory.capacity=141GB", "h100-big")
    path = save(chip)
    assert path.parent == home / "catalog" / "chips"
    assert catalog().chip("h100-big").memory.capacity_gb == 141
    assert catalog().system("8xh100-big").chips == 8
    with pytest.raises(SuanliError, match="already names"):
        save(derive(catalog().chip("h100-sxm"), "tdp=800", "h100-sxm")[0])


# --- defaults carry sources --------------------------------------------------------------------------------
def test_every_default_has_a_source():
    for name, d in load("defaults").items():
        assert d["source"], name
        if d["source"] == ASSUMPTION:
            assert d.get("note"), f"{name}: an assumption needs a note"
    nodes = load("nodes")
    for key, n in nodes["nodes"].items():
        for fig in ("wafer_usd", "nre_usd", "d0"):
            if fig in n:
                assert n[fig.split("_")[0] + "_source"], (key, fig)
    for rule in load("policy")["rules"].values():
        assert rule["source"] and rule["date"]


# --- the command line --------------------------------------------------------------------------------------
def test_cli_policy_checker(cli):
    need("h100-sxm", "a100-sxm", "h20")
    r = cli("policy", "--chips", "h100-sxm,a100-sxm,h20", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    tpps = {c["id"]: c["tpp"] for c in j["chips"]}
    for cid, published in (("h100-sxm", 15832), ("a100-sxm", 4992), ("h20", 2368)):
        assert tpps[cid] == pytest.approx(published, rel=0.02)
    assert all({"id", "tpp", "performance_density", "hbm_bandwidth_density", "class", "rule"} <= set(c)
               for c in j["chips"])
    assert "not legal advice" in j["disclaimer"]


def test_cli_policy_all_text(cli):
    r = cli("policy")
    assert r.returncode == 0, r.stderr
    assert "not legal advice" in r.stdout.replace("\n", " ")


def test_cli_silicon_checker(cli):
    r = cli("silicon", "--die-area", "800", "--node", "7nm", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert 55 <= j["dies_per_wafer"] <= 70
    assert set(j["yield"]) == {"poisson", "murphy", "seeds", "negative-binomial"}
    for k in ("cost_per_good_die_usd", "packaged_cost_usd", "nre_per_unit_usd"):
        assert j[k] > 0
    assert all(a["source"] for a in j["assumptions"].values())
    r = cli("silicon", "--die-area", "800", "--node", "7nm", "--wafer-price", "10000", "--defect-density", "0.1",
            "--hbm-stacks", "8", "--volume", "100000")
    assert r.returncode == 0 and "dies per wafer" in r.stdout


COST = ["cost", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "8", "--batch", "64", "--input", "2048",
        "--output", "256", "--price", "h100-sxm=30000", "--electricity", "0.1", "--pue", "1.3", "--years", "4",
        "--utilization", "0.6", "--facility", "150", "--server-overhead", "0.5", "--network-fraction", "0.1"]


def test_cli_cost_recomputed_by_hand(cli):
    need("dgx-h100", kind="system")
    r = cli(*COST, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    for k in ("input", "output", "blended"):
        assert j["usd_per_mtok"][k] > 0
    assert j["tokens_per_joule"] == pytest.approx(1 / j["joules_per_token"])
    for a in j["assumptions"].values():
        assert a["source"]
    assert j["assumptions"]["pue"]["source"].startswith("user")
    # by hand: capex = 8 chips x $30k x (1 + 0.5 server) x (1 + 0.1 network) over 4 years of hours
    capex_h = 8 * 30000 * 1.5 * 1.1 / (4 * 8760)
    p = j["power"]
    facility_h = 150 * 8 * (700 + p["node_overhead_w"] / 8 / 0.6) / 1000 * 12 / 8760  # provisioned: TDP + rated
    energy_h = (0.6 * j["power_w"] + 0.4 * p["idle_it_w"]) / 1000 * 1.3 * 0.1
    tokens_h = 0.6 * 3600 * 64 * (2048 + 256) / j["time_s"]["cycle"]
    assert j["tco"]["usd_per_hour"]["capex"] == pytest.approx(capex_h)
    assert j["tco"]["usd_per_hour"]["facility"] == pytest.approx(facility_h)
    assert j["usd_per_mtok"]["blended"] == pytest.approx((capex_h + facility_h + energy_h) / tokens_h * 1e6)
    assert j["output_tok_s"] == pytest.approx(64 * 256 / j["time_s"]["cycle"])
    # energy per token never below idle power x time
    idle = 8 * p["chip_idle_w"]
    jp = j["joules_per_token_by_phase"]
    assert jp["prefill_per_input_token"] * 64 * 2048 >= idle * j["time_s"]["prefill"]
    assert jp["decode_per_output_token"] * 64 * 256 >= idle * j["time_s"]["decode"]


def test_cli_cost_text_and_best_layout(cli):
    need("qwen3-235b-a22b", kind="model")
    need("hgx-h20", kind="system")
    r = cli("cost", "--model", "qwen3-235b-a22b", "--system", "hgx-h20", "--input", "2000", "--output", "500",
            "--batch", "128", "--price", "h20=12000")
    assert r.returncode == 0, r.stderr
    for word in ("per million tokens", "tokens/J", "Power", "TCO per hour", "capex", "facility", "assumption"):
        assert word in r.stdout, word


def test_cli_ppa(cli):
    ids = ["h100-sxm", "h20", "ascend-910b", "mi300x", "mlu590"]
    need(*ids)
    r = cli("ppa", "--chips", ",".join(ids), "--model", "llama-3.1-70b", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["id"]: x for x in json.loads(r.stdout)["chips"]}
    h = rows["h100-sxm"]
    assert h["output_tok_s_per_chip"] > 0 and h["tok_s_per_w"] > 0
    assert h["tflops_per_w"]["bf16"] == pytest.approx(989.4 / 700, rel=1e-3)
    assert h["tflops_per_mm2"]["fp8"] == pytest.approx(1978.9 / 814, rel=1e-3)


def test_cli_ppa_h100_only(cli):
    need("h100-sxm")
    r = cli("ppa", "--chips", "h100-sxm", "--model", "llama-3.1-70b", "--input", "512", "--output", "128")
    assert r.returncode == 0, r.stderr
    assert "tok/s/W" in r.stdout and "bf16/W" in r.stdout


def test_cli_design_save_then_predict(cli, home):
    need("h100-sxm")
    r = cli("design", "--base", "h100-sxm", "--set", "memory.bandwidth=6TB/s,compute.bf16=500", "--model",
            "llama-3.1-70b", "--input", "1024", "--output", "256", "--save", "h100-6tb", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["gain"]["output_tok_s_per_chip"] > 1.0  # decode is bandwidth bound: more bandwidth, more tokens
    assert (home / "catalog" / "chips" / "h100-6tb.yaml").exists()
    r = cli("predict", "--model", "llama-3.1-70b", "--system", "8xh100-6tb", "--tp", "8", "--precision", "fp8",
            "--json")
    assert r.returncode == 0, r.stderr
    r = cli("policy", "--chips", "h100-6tb", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["chips"][0]["tpp"] == pytest.approx(15831.2)


def test_cli_design_deepseek(cli):
    need("h100-sxm")
    need("deepseek-r1", kind="model")
    r = cli("design", "--base", "h100-sxm", "--set", "memory.bandwidth=6TB/s,compute.bf16=500", "--model",
            "deepseek-r1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["gain"]["tpot_ms"] < 1.0


def test_cli_isoperf(cli):
    need("a100-sxm")
    need("dgx-h100", kind="system")
    r = cli("isoperf", "--model", "llama-3.1-70b", "--target", "dgx-h100", "--candidate", "1xa100-sxm", "--price",
            "a100-sxm=10000", "--input", "1024", "--output", "256", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    c, t = j["candidate"], j["target"]
    assert c["total_output_tok_s"] >= t["total_output_tok_s"]
    assert (c["replicas"] - 1) * c["output_tok_s"] < t["output_tok_s"]  # the fewest replicas that match
    assert j["chips_needed"] == c["total_chips"]


@pytest.mark.parametrize("args, words", [
    (["silicon", "--die-area", "-5", "--node", "7nm"], ["die-area", "-5"]),
    (["silicon", "--die-area", "800", "--node", "11nm"], ["node", "11nm", "allowed"]),
    (["design", "--base", "h100-sxm", "--set", "warp=9"], ["warp", "allowed"]),
    (["policy", "--chips", "h100-sxx"], ["chip", "h100-sxx"]),
    (["cost", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--utilization", "0"], ["utilization", "0"]),
    (["cost", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--price", "h100-sxm"], ["price", "CHIP=USD"]),
])
def test_cli_errors_are_one_line(cli, args, words):
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error:")
    for w in words:
        assert w in r.stderr, (w, r.stderr)
