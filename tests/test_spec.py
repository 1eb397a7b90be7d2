"""Schemas: units, validation errors that name the field, provenance."""

import pytest

from suanli.schema import Chip, SuanliError, get_precision
from suanli.schema.errors import validated


def test_precision_bits_include_scales():
    assert get_precision("bf16").bits == 16
    assert get_precision("fp8").bits == 8
    assert get_precision("fp4").bits == pytest.approx(4.5)  # e2m1 + one e4m3 scale per 16
    assert get_precision("mxfp4").bits == pytest.approx(4.25)  # e2m1 + one e8m0 scale per 32
    assert get_precision("int4").name == "w4a16"
    assert get_precision("q8_0").bits == pytest.approx(8.5)  # 34 bytes per 32 weights
    assert get_precision("fp8-block").bits == pytest.approx(8 + 32 / 16384)


def test_unknown_precision_lists_allowed():
    with pytest.raises(SuanliError, match="unknown precision 'fp7'.*allowed: .*bf16"):
        get_precision("fp7")


def _chip(**kw):
    base = dict(id="x-1", name="X", vendor="v", category="datacenter", family="f",
                memory={"capacity_gb": 10, "bandwidth_gb_s": 100}, matrix_tflops={"bf16": 10},
                sources={"s": "doc"}, cite={"memory": "s", "matrix_tflops": "s"})
    base.update(kw)
    return base


def test_chip_error_names_field():
    with pytest.raises(SuanliError, match="memory.bandwidth_gb_s"):
        validated(Chip, _chip(memory={"capacity_gb": 10, "bandwidth_gb_s": -1}), "chip")
    with pytest.raises(SuanliError, match="matrix_tflops"):
        validated(Chip, _chip(matrix_tflops={"fp7": 3}), "chip")


def test_cite_must_name_a_source():
    with pytest.raises(SuanliError, match="not in sources"):
        validated(Chip, _chip(cite={"memory": "nope"}), "chip")


def test_uncited_figures_are_found():
    c = validated(Chip, _chip(tdp_w=300), "chip")
    assert c.uncited() == ["tdp_w"]
    c = validated(Chip, _chip(), "chip")
    assert c.uncited() == []
    assert c.sources_of("memory.bandwidth_gb_s") == ["doc"]
