"""Prediction intervals (issue 23): bands from held-out residuals, their lookup, coverage and planning on them."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from suanli.perf.factors import BUNDLED, bundled_calibration, load_calibration
from suanli.perf.intervals import MIN_ROWS, MIN_SOURCES, Case, band_of, build_table, check_table, interval, quantile
from suanli.plan.confidence import check_confidence, quantile_at
from suanli.schema import SuanliError
from suanli.validate.intervals import coverage, fit_levels, held_path, read_held, samples

HELD = held_path(BUNDLED)


def test_quantile_matches_numpy():
    rng = random.Random(3)
    v = [rng.lognormvariate(0, 0.4) for _ in range(57)]
    for q in (0.1, 0.5, 0.9):
        assert quantile(v, q) == pytest.approx(float(np.quantile(v, q)))


def test_band_by_hand():
    # 50 rows from 5 sources, ratios 0.51 .. 1.00: P10 = 0.51 + 0.1 x 49 x 0.01 = 0.559, P90 = 0.951
    case = Case("throughput")
    rows = [(case, f"s{i % 5}", 0.51 + 0.01 * i) for i in range(50)]
    table = build_table(rows)
    band = table[case.key()]
    assert band["p10"] == pytest.approx(0.559) and band["p90"] == pytest.approx(0.951) and band["level"] == 0.1
    wide = build_table(rows, {"throughput": 0.02})[case.key()]  # P2 = 0.51 + 0.02 x 49 x 0.01
    assert wide["p10"] == pytest.approx(0.5198) and wide["p90"] == pytest.approx(0.9902)
    iv = interval(table, case, 200.0)
    assert iv["p10"] == pytest.approx(111.8) and iv["p90"] == pytest.approx(190.2)
    assert "50 rows from 5 sources" in iv["basis"]


def test_thin_class_takes_its_parent():
    own, other = Case("ttft", chip="borrowed"), Case("ttft")
    rows = [(other, f"s{i % 4}", 1.0 + 0.01 * i) for i in range(60)]
    rows += [(own, "s0", 3.0)] * (MIN_ROWS + 5)  # enough rows, one source only
    table = build_table(rows)
    assert own.key() not in table  # fewer than MIN_SOURCES sources
    key, _ = band_of(table, own)
    assert key == "ttft/*/*/*/*" and "parent" in interval(table, own, 10.0)["basis"]
    assert band_of(table, Case("tpot")) is None  # no tpot rows at all: no band, not a made-up one
    assert interval(table, Case("tpot"), 5.0) is None
    assert MIN_SOURCES >= 2


def test_bad_tables_are_refused():
    good = {"p10": 0.8, "p50": 1.0, "p90": 1.2, "rows": 50, "sources": 4}
    assert check_table({"throughput/*/*/*/*": good}, "x")
    for bad in ({**good, "p10": 1.3}, {**good, "p90": float("nan")}, {**good, "p10": 0.0}, {"p10": 1}):
        with pytest.raises(SuanliError):
            check_table({"throughput/*/*/*/*": bad}, "x")
    with pytest.raises(SuanliError):
        check_table({"watts/*/*/*/*": good}, "x")


def test_levels_widen_bands_for_sources_unlike_the_others():
    # each source has its own bias: bands drawn from the others at the 10% level cover too little of a new one,
    # and the fitted level widens them to cover about 80% again
    rng = random.Random(5)
    recs = []
    for s in range(6):
        bias = rng.gauss(0.0, 0.4)
        recs += [{"source": f"s{s}", "case": Case("tpot"), "predicted": 1.0,
                  "measured": math.exp(bias + rng.gauss(0.0, 0.05))} for _ in range(100)]
    assert coverage(recs)["tpot"]["covered"] < 0.7
    lv = fit_levels(recs)
    assert lv["tpot"] < 0.1 and 0.72 <= coverage(recs, levels=lv)["tpot"]["covered"] <= 0.88


def test_nested_coverage_on_synthetic_sources():
    # residuals that are alike in every source: bands drawn without a source cover about 80% of it
    rng = random.Random(7)
    recs = [{"source": f"s{i % 8}", "case": Case("throughput"), "predicted": 1.0,
             "measured": math.exp(rng.gauss(0.0, 0.3))} for i in range(2000)]
    cov = coverage(recs)["throughput"]
    assert 0.76 <= cov["covered"] <= 0.84
    assert cov["median_width"] == pytest.approx(math.exp(0.3 * 1.2816) - math.exp(-0.3 * 1.2816), rel=0.1)


def test_shipped_bands_cover_held_out_rows():
    """The bundled bands and the held-out residuals they were drawn from (`suanli calibrate --loso`): the levels
    and the table rebuild from them, and each source's rows fall in bands drawn without that source 72-88% of the
    time, for throughput and for latency."""
    recs = read_held(HELD)
    assert len(recs) > 3000 and {r["case"].metric for r in recs} == {"throughput", "ttft", "tpot"}
    shipped = bundled_calibration().intervals
    levels = {k.split("/")[0]: v["level"] for k, v in shipped.items()}
    assert fit_levels(recs) == levels
    assert build_table(samples(recs), levels) == shipped
    cov = coverage(recs, levels=levels)
    for metric in ("throughput", "latency"):
        assert 0.72 <= cov[metric]["covered"] <= 0.88, (metric, cov[metric])
        assert cov[metric]["median_width"] > 0


def test_confidence_quantiles():
    band = {"p10": 0.6, "p50": 0.9, "p90": 1.5}
    assert quantile_at(band, 0.5) == pytest.approx(0.9)
    assert quantile_at(band, 0.9) == pytest.approx(1.5) and quantile_at(band, 0.1) == pytest.approx(0.6)
    assert quantile_at(band, 0.7) == pytest.approx(1.2)
    for bad in (0.3, 0.95, 1.0):
        with pytest.raises(SuanliError, match="confidence"):
            check_confidence(bad)


def test_calibration_file_with_broken_intervals(tmp_path: Path):
    text = BUNDLED.read_text() + "\n"
    p = tmp_path / "c.yaml"
    p.write_text(text.replace("intervals:", "intervals_old:") + "intervals:\n  throughput/*/*/*/*: {p10: 2, p50: 1, "
                 "p90: 1.5, rows: 9, sources: 3}\n")
    with pytest.raises(SuanliError, match="p10 <= p50 <= p90"):
        load_calibration(p)


def test_predict_json_carries_intervals(cli):
    r = cli("predict", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--tp", "8", "--precision", "fp8",
                "--batch", "64", "--input", "2048", "--output", "128", "--json")
    d = json.loads(r.stdout)
    for key in ("output_tok_s_per_chip", "tpot_ms", "ttft_loaded_ms"):
        iv = d["intervals"][key]
        assert 0 < iv["p10"] < iv["p90"] and iv["basis"]
        assert iv["p10"] < 3 * d[key] and iv["p90"] > d[key] / 3


def test_compare_json_carries_intervals(cli):
    r = cli("compare", "--model", "llama-3.1-8b", "--systems", "dgx-h100,1xrtx-4090", "--input", "512",
                "--output", "128", "--json")
    rows = json.loads(r.stdout)["systems"]
    assert all(0 < row["intervals"]["output_tok_s_per_chip"]["p10"] < row["intervals"]["output_tok_s_per_chip"]["p90"]
               for row in rows)


def test_plan_at_higher_confidence_never_needs_fewer_chips():
    from suanli.plan import plan

    def chips(c: float) -> int:
        r = plan("llama-3.1-8b", "dgx-h100,mi300x-8", input=1024, output=256, slo="ttft_p99=3s,tpot_p99=60ms",
                 load="200req/s", confidence=c, confirm=0, executor="serial", disaggregate=False)
        return sum(s["best"]["chips_needed"] for s in r["systems"] if s["best"])

    at = {c: chips(c) for c in (0.5, 0.7, 0.9)}
    assert at[0.5] <= at[0.7] <= at[0.9]
    assert at[0.9] > at[0.5]  # the bands are not degenerate: confidence costs chips
