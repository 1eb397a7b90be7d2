"""A chip whose compute rate or memory bandwidth the catalog lacks still predicts, as a bound that says so (issue
21): the unknown figure is taken as free, the figures it bounds are named, and no interval is claimed."""

from __future__ import annotations

import json

import pytest

from suanli.api import bounded, predict
from suanli.catalog import catalog


def _chip_without(field: str):
    cat = catalog()
    for c in cat.chips.values():
        no_bw, no_rate = not c.memory.bandwidth_gb_s, not c.available_dtypes()
        if c.memory.capacity_gb and ((field == "bandwidth" and no_bw and not no_rate) or
                                     (field == "compute" and no_rate and not no_bw)):
            return c
    pytest.skip(f"every catalog chip has its {field} now")


def test_unknown_bandwidth_bounds_tpot_from_below():
    chip = _chip_without("bandwidth")
    p = predict("qwen2.5-0.5b", f"1x{chip.id}", precision=None, batch=1, input=512, output=128)
    assert p.bounds["tpot_ms"] == "lower bound" and p.bounds["output_tok_s"] == "upper bound"
    assert p.intervals == {} and "taken as free" in p.notes[0]
    # the decode step is then only its compute and overheads: with the catalog's rate it would be no shorter
    known = bounded(chip)[0]
    assert known.memory.bandwidth_gb_s >= 1e8


def test_unknown_compute_bounds_ttft_from_below():
    chip = _chip_without("compute")
    p = predict("qwen2.5-0.5b", f"1x{chip.id}", precision=None, batch=1, input=512, output=128)
    assert p.bounds["ttft_ms"] == "lower bound" and p.tpot_s > 0
    d = p.to_dict()
    assert d["bounds"]["missing"] == "matrix_tflops" and d["intervals"] == {}


def test_nothing_known_gives_only_bounds_and_compare_does_not_rank_bounds(cli):
    cat = catalog()
    empty = next(c for c in cat.chips.values() if not c.available_dtypes() and not c.memory.bandwidth_gb_s)
    one = empty.model_copy(update={"memory": empty.memory.model_copy(update={"capacity_gb": 96.0})})
    free, marks = bounded(one)
    assert marks["missing"] == "matrix_tflops, memory.bandwidth_gb_s" and "fits" not in marks  # capacity known
    assert marks["tpot_ms"] == marks["ttft_ms"] == "lower bound" and marks["output_tok_s"] == "upper bound"
    assert free.memory.capacity_gb == 96.0 and free.available_dtypes()
    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", f"1x{empty.id}", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert "matrix_tflops" in d["bounds"]["missing"] and d["intervals"] == {} and d["tpot_ms"] > 0
    chip = _chip_without("bandwidth")
    r = cli("compare", "--model", "qwen2.5-0.5b", "--systems", f"dgx-h100,1x{chip.id}", "--input", "256",
            "--output", "64", "--json")
    rows = json.loads(r.stdout)["systems"]
    assert [x for x in rows if x["system"] == f"1x{chip.id}"][0].get("error")  # a ranking is never built on a bound


def test_unknown_capacity_predicts_without_a_fit_verdict(cli):
    chip = next((c for c in catalog().chips.values() if c.memory.capacity_gb is None
                 and (c.available_dtypes() or c.memory.bandwidth_gb_s)), None)
    if chip is None:
        pytest.skip("every catalog chip has its capacity now")
    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", f"1x{chip.id}", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["fits"] is None and d["bounds"]["fits"] == "not checked" and "capacity" not in d["memory_gb_per_chip"]
    assert "memory.capacity_gb" in d["bounds"]["missing"]
    r = cli("predict", "--model", "qwen2.5-0.5b", "--system", f"1x{chip.id}")
    assert r.returncode == 0 and "fit is not checked" in r.stdout
