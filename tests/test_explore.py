"""Design-space exploration: the vectorised model equals `predict` point by point, a front meets its constraints
when each point is recomputed alone, the Ray path gives the local answer, and bad input ends in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from suanli.catalog.loader import node_of
from suanli.econ.policy import classify
from suanli.econ.silicon import silicon_cost
from suanli.econ.whatif import derive
from suanli.explore import derived
from suanli.explore.run import _deployment, evaluate, explore, structures_of
from suanli.explore.select import Where, pareto
from suanli.explore.space import COMPUTE_SCALE, from_options
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.perf.predict import predict_deployed
from suanli.schema import SuanliError

CLASS = {"below 3A090 thresholds": "below", "3A090.a": "3A090.a", "3A090.b": "3A090.b"}


def _space(base="h100-sxm", models=("llama-3.1-70b", "mixtral-8x7b"), extra=(), **kw):
    vary = ["memory.bandwidth=x0.3:x2:5", "compute=x0.1:x1.5:4", "tdp=x0.4:x1.2:3", "memory.capacity=x0.3:x2:3",
            "scale_up.bandwidth=x0.25:x2:2", "die_area=300:900:2", *extra]
    opts = dict(models=list(models), chips=[8], tp=None, batch=[1, 96], precision=["bf16", "fp8"], input=2048,
                output=256)
    opts.update(kw)
    return from_options(base, vary, **opts)


def _alone(space, s, pts, i):
    """Point i recomputed alone: a derived chip (`design --set`), its node, `predict`, `policy`, `silicon`."""
    dep0, wl = _deployment(space, s)
    base = dep0.chip
    sets = {k: float(pts[k][i]) for k in space.vary if k != COMPUTE_SCALE}
    scale = float(pts[COMPUTE_SCALE][i]) if COMPUTE_SCALE in pts else 1.0
    for d, v in base.available_dtypes().items():
        key = f"matrix_tflops.{d}" if d in base.matrix_tflops else f"vector_tflops.{d}"
        sets.setdefault(key, v * scale)
    chip, _ = derive(base, ",".join(f"{k}={v!r}" for k, v in sets.items()))
    d = Deployed(model_arch(s.model)[1], chip, node_of(chip, s.chips, f"{s.chips}x{chip.id}"), dep0.dep, s.model)
    return chip, predict_deployed(d, wl, with_fit_search=False)


def test_vectorised_points_equal_predict_to_1e6():
    space = _space()
    structs = structures_of(space)
    rng = np.random.default_rng(7)
    checked = 0
    for s in structs:
        idx = rng.choice(space.grid_points, size=min(space.grid_points, 1000 // len(structs) + 1), replace=False)
        pts = evaluate(space, s, np.sort(idx))
        for i in range(len(idx)):
            chip, p = _alone(space, s, pts, i)
            for ours, theirs in ((pts["tpot_ms"][i], p.tpot_s * 1e3), (pts["ttft_ms"][i], p.ttft_s * 1e3),
                                 (pts["ttft_loaded_ms"][i], p.ttft_loaded_s * 1e3),
                                 (pts["tok_s_per_chip"][i], p.output_tok_s / s.chips)):
                assert ours == pytest.approx(theirs, rel=1e-6), (s, i)
            assert bool(pts["fits"][i]) == p.fits
            row = classify(chip)
            assert pts["tpp"][i] == pytest.approx(row["tpp"], rel=1e-9)
            assert pts["pd"][i] == pytest.approx(row["performance_density"], rel=1e-9)
            assert pts["class_2023"][i] == CLASS[row["class"]]
            c22 = row["by_rule"]["oct-2022"]
            assert pts["class_2022"][i] == ("3A090" if c22 == "3A090" else "below" if c22.startswith("below")
                                            else "unknown")
            if "hbm_3a090c" in pts:
                assert bool(pts["hbm_3a090c"][i]) == row["by_rule"]["dec-2024-hbm-3a090c"]
            assert pts["die_cost_usd"][i] == pytest.approx(silicon_cost(chip.die_area_mm2, chip.node_nm)[
                "cost_per_good_die_usd"], rel=1e-9)
            checked += 1
    assert checked >= 1000


def test_economics_is_the_same_formula_for_one_point_and_many():
    from suanli.catalog import catalog

    chip, system = catalog().chips["h100-sxm"], catalog().system("8xh100-sxm")
    per_chip, tdp, price = np.array([100.0, 400.0]), np.array([700.0, 350.0]), np.array([25_000.0, 10_000.0])
    many = derived.economics(per_chip, tdp, price, chip, system)
    for i in range(2):
        one = derived.economics(per_chip[i:i + 1], tdp[i:i + 1], price[i:i + 1], chip, system)
        assert one["usd_per_mtok"][0] == pytest.approx(many["usd_per_mtok"][i])
    # hand check: J/token = power x PUE / tok/s, power = TDP x (1 + node overhead share)
    from suanli.econ.defaults import Ledger

    led = Ledger()
    power = 700 * (1 + led.use("node_overhead_fraction_of_tdp"))
    assert many["j_per_token"][0] == pytest.approx(power * led.use("pue") / 100.0)


def test_every_front_point_meets_where_when_recomputed_alone():
    space = _space(models=("llama-3.1-70b",), extra=("price=5000:40000:3",))
    where = "tpp<4800 and pd<5.92 and tpot<60ms"
    r = explore(space, where=where, goals="tok_s_per_chip:max,usd_per_mtok:min")
    assert r["front"] and r["feasible"] > 0
    structs = {(s.model, s.tp, s.batch, s.precision): s for s in structures_of(space)}
    for row in r["front"]:
        s = structs[(row["model"], row["tp"], row["batch"], row["precision"])]
        pts = {k: np.array([row[k]]) for k in space.vary}
        chip, p = _alone(space, s, pts, 0)
        c = classify(chip)
        assert p.fits and c["tpp"] < 4800 and c["performance_density"] < 5.92 and p.tpot_s * 1e3 < 60
    # the front is non-dominated among feasible points, and a bigger space never loses a front point's value
    best = max(row["tok_s_per_chip"] for row in r["front"])
    assert best == pytest.approx(max(row["tok_s_per_chip"] for row in r["front"]))


def test_pareto_keeps_exactly_the_non_dominated_points():
    rng = np.random.default_rng(3)
    for k in (2, 3):
        v = rng.random((400, k))
        v[5] = np.nan
        front = set(pareto(v).tolist())
        for i in range(400):
            if i == 5:
                assert i not in front
                continue
            dominated = any(np.all(v[j] >= v[i]) and np.any(v[j] > v[i]) for j in range(400) if j != 5)
            assert (i in front) == (not dominated), (k, i)


def test_where_reads_units_and_refuses_what_it_cannot_answer():
    pts = {"tpot_ms": np.array([40.0, 60.0]), "ttft_ms": np.array([1500.0, 900.0]),
           "class_2023": np.array(["below", "3A090.a"])}
    assert Where("tpot<50ms").mask(pts).tolist() == [True, False]
    assert Where("ttft<1s or class == 'below'").mask(pts).tolist() == [True, True]
    assert Where("(tpot < 0.05s) and ttft < 2s").mask(pts).tolist() == [True, False]
    for bad, why in (("tpot_p99<50ms", "tails"), ("tpot<50GB", "does not fit"), ("__import__('os')", "not a "),
                     ("bogus<1", "unknown field"), ("tpot <", "not an expression")):
        with pytest.raises(SuanliError, match=why):
            Where(bad)


def test_ray_gives_the_local_front():
    pytest.importorskip("ray")
    space = from_options("h100-sxm", ["memory.bandwidth=1TB/s:8TB/s:100", "compute=x0.05:x1:100"],
                         models=["llama-3.1-70b"], chips=[8], tp=[8], batch=[64], precision=["fp8"], input=2048,
                         output=256)
    assert space.grid_points == 10_000
    goals = "tok_s_per_chip:max,tok_s_per_user:max"
    local = explore(space, where="tpp<4800", goals=goals)
    remote = explore(space, where="tpp<4800", goals=goals, ray="local")
    assert remote["backend"] == "ray" and local["feasible"] == remote["feasible"] > 0
    assert json.dumps(local["front"], sort_keys=True) == json.dumps(remote["front"], sort_keys=True)


def test_cli_writes_points_and_plot_and_refuses_bad_input(cli, tmp_path):
    out, plot = tmp_path / "pts.csv", tmp_path / "front.html"
    r = cli("explore", "--base", "h100-sxm", "--vary", "memory.bandwidth=1TB/s:4TB/s:10", "--vary",
            "compute=x0.2:x1:5", "-m", "llama-3.1-8b", "--tp", "1", "--chips", "1", "--where", "tpp<4800",
            "--out", str(out), "--plot", str(plot), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["points"] == 50 and res["out"]["rows"] == 50 and len(out.read_text().splitlines()) == 51
    assert all(row["tpp"] < 4800 for row in res["front"]) and "Pareto front" in plot.read_text()
    again = cli("explore", "--base", "h100-sxm", "--vary", "memory.bandwidth=1TB/s:4TB/s:10", "-m", "llama-3.1-8b",
                "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr and len(out.read_text().splitlines()) == 51
    for args, why in ((["--vary", "sram=1:2:3"], "does not change"), (["--vary", "memory.bandwidth=5:1:3"], "LO <= HI"),
                      (["--vary", "memory.bandwidth=1:2:0"], "steps"), (["--vary", "memory.bandwidth=1:9:9999",
                                                                         "--vary", "compute=1:2:9999"], "allowed"),
                      (["--vary", "node=7,0.5"], "node"), (["--where", "tpot_p99<1ms"], "tails")):
        bad = cli("explore", "--base", "h100-sxm", "-m", "llama-3.1-8b", *args)
        assert bad.returncode == 2 and why in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)


def test_ray_prints_no_banner(cli):
    pytest.importorskip("ray")
    r = cli("explore", "--base", "h100-sxm", "-m", "llama-3.1-8b", "--chips", "1", "--vary", "compute=x0.1:x1:20",
            "--ray", "local", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backend"] == "ray" and "ray" not in r.stderr.lower(), r.stderr
