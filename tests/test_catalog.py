"""The bundled catalog: required ids, every figure sourced, aliases, and every id the ground truth uses."""

import csv

import pytest
from conftest import SHARED

from suanli.catalog import catalog
from suanli.schema import SuanliError

CHIPS = [
    "a100-sxm", "a800", "h100-sxm", "h100-pcie", "h800", "h20", "h200", "b200", "gb200", "l40s", "l20", "rtx-4090",
    "mi250x", "mi300x", "mi325x", "mi355x", "tpu-v5e", "tpu-v5p", "tpu-v6e", "gaudi2", "gaudi3", "trainium2",
    "ascend-910b", "ascend-910c", "mlu590", "kunlunxin-p800", "mtt-s4000", "hygon-k100", "jetson-agx-orin",
    "rk3588", "apple-m4", "snapdragon-8-elite", "a100-pcie", "h100-nvl", "h200-nvl", "gh200-96g", "gh200-144g",
    "b300", "gb300", "rtx-pro-6000", "arc-pro-b60", "trainium1", "xeon-6787p", "xeon-6980p", "xeon-8592plus",
]
SYSTEMS = [
    "dgx-a100", "dgx-h100", "hgx-h20", "dgx-h200", "dgx-b200", "gb200-nvl72", "mi300x-8", "tpu-v6e-8",
    "atlas-800-a2", "cloudmatrix-384", "1xh100-sxm", "1xrk3588",
]
MODELS = [
    "llama-3.2-1b", "llama-3.2-3b", "qwen2.5-7b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b",
    "qwen3-235b-a22b", "qwen3.5-397b-a17b", "deepseek-v2-lite", "deepseek-v3", "deepseek-r1", "deepseek-v3.2",
    "kimi-k2", "glm-4.7", "minimax-m2.5", "gemma-2b", "gemma-7b", "gemma-3-27b", "gpt-oss-20b", "gpt-oss-120b",
    "smollm2-135m",
]


@pytest.mark.parametrize("kind,ids", [("chip", CHIPS), ("system", SYSTEMS), ("model", MODELS)])
def test_required_ids_exist(kind, ids):
    cat = catalog()
    for i in ids:
        cat.resolve(kind, i)  # an id, or an alias of one (apple-m4 is the 10-core M4)


def test_no_figure_without_a_source():
    cat = catalog()
    bad = [f"{e.id}: {p}" for table in (cat.chips, cat.systems) for e in table.values() for p in e.uncited()]
    assert not bad, bad[:20]


def test_models_have_source_urls():
    for m in catalog().models.values():
        assert m.source.startswith("http"), m.id


def test_aliases_resolve():
    cat = catalog()
    assert cat.resolve("chip", "H100 SXM5 80GB") == "h100-sxm"
    assert cat.resolve("system", "DGX H100") == "dgx-h100"
    assert cat.resolve("model", "meta-llama/Llama-3.1-70B-Instruct") == "llama-3.1-70b"
    assert cat.resolve("system", "4xh100-sxm") == "4xh100-sxm"


def test_unknown_id_suggests_nearest():
    with pytest.raises(SuanliError, match="nearest: h100-sxm"):
        catalog().resolve("chip", "h100-sx")


def test_chinese_and_edge_coverage():
    cat = catalog()
    chinese = {"huawei", "cambricon", "kunlunxin", "moore-threads", "mthreads", "hygon", "metax", "biren", "alibaba",
               "enflame", "iluvatar"}
    assert sum(1 for c in cat.chips.values() if c.vendor in chinese) >= 10
    assert sum(1 for c in cat.chips.values() if c.category == "edge") >= 15


@pytest.mark.parametrize("name", ["public.csv", "serving.csv", "edge_cn.csv", "ops.csv"])
def test_every_ground_truth_id_is_known(name):
    path = SHARED / "groundtruth" / name
    if not path.exists():
        pytest.skip("shared ground truth not present")
    cat = catalog()
    for row in csv.DictReader(path.open()):
        cat.resolve("chip", row["hardware"])
        if "model" in row and row["model"]:
            cat.resolve("model", row["model"])
