"""Vision-language models: image tokens by hand (Qwen's resize, Gemma's pooled 256), tower parameters against
published totals, encoder FLOPs by hand, and the encoder's cost in predict, compare, the simulator, the CLI and the
HTTP API; one-line refusals where no tower is modelled."""

from __future__ import annotations

import json

import pytest

from suanli.api import compare, predict, simulate
from suanli.catalog import catalog
from suanli.model.arch import parse_config
from suanli.model.params import count_params
from suanli.model.vision import encoder_flops, patches_and_tokens, resized, tower_params
from suanli.perf.vision import parse_images
from suanli.schema import SuanliError


def tower(model: str):
    return parse_config(catalog().models[model].config, model).vision


def test_qwen_images_are_resized_to_multiples_of_28_within_the_pixel_limits():
    t = tower("qwen2.5-vl-7b")
    # 1024 / 28 = 36.6 -> 37 x 28 = 1036 px a side; 74 x 74 patches of 14 px; 2 x 2 patches a token
    assert resized(t, 1024, 1024) == (1036, 1036)
    assert patches_and_tokens(t, 1024, 1024) == (5476, 1369)
    # 1280 x 720: 46 x 28 = 1288 by 26 x 28 = 728 -> 92 x 52 patches, 46 x 26 tokens
    assert patches_and_tokens(t, 1280, 720) == (92 * 52, 46 * 26)
    # 1920 x 1080 -> 69 x 39 tokens = 2691: with its 27 text tokens, the 2718 prompt tokens vLLM reported for a
    # 1080p image to Qwen2.5-VL-7B (github.com/vllm-project/vllm/issues/41267)
    assert patches_and_tokens(t, 1920, 1080)[1] == 2691
    # too many pixels: scaled by sqrt(16384^2 / 12845056) = 4.571 -> 3584 px a side (128 x 28)
    assert resized(t, 16384, 16384) == (3584, 3584)
    # too few: scaled up by sqrt(3136 / 100) = 5.6 -> 56 px a side, 16 patches, 4 tokens
    assert patches_and_tokens(t, 10, 10) == (16, 4)


def test_gemma_images_are_896_pixels_pooled_to_256_tokens_whatever_their_size():
    t = tower("gemma-3-4b")
    assert patches_and_tokens(t, 1280, 720) == (64 * 64, 256)
    assert patches_and_tokens(t, 100, 3000) == (4096, 256)


@pytest.mark.parametrize("model", ["qwen2.5-vl-7b", "gemma-3-4b", "gemma-3-27b"])
def test_language_model_and_tower_together_match_the_published_total(model):
    card = catalog().models[model]
    arch = parse_config(card.config, model)
    total = (count_params(arch).total + tower_params(arch.vision)) / 1e9
    assert total == pytest.approx(card.published.total_params_b, rel=0.01)


def test_encoder_flops_by_hand():
    t = tower("gemma-3-4b")  # 27 layers, width 1152, MLP 4304 (GELU, two matrices), 4096 patches in full attention
    f = encoder_flops(t, 4096)
    assert f["gemm"] == pytest.approx(2 * 4096 * (4 * 1152**2 + 2 * 1152 * 4304) * 27 + 2 * 256 * 1152 * 2560)
    assert f["attention"] == pytest.approx(4 * 4096**2 * 1152 * 27)
    q = tower("qwen2.5-vl-7b")  # windows of 8 x 8 patches in 28 of 32 layers, full attention in 4
    pairs = (4 * 5476**2 + 28 * 5476 * 64) / 32
    assert encoder_flops(q, 5476)["attention"] == pytest.approx(4 * pairs * 1280 * 32)


def test_images_cost_the_encoder_in_the_prefill_and_nothing_in_the_decode():
    plain = predict("qwen2.5-vl-7b", "1xh100-sxm", input=1569, output=128)
    seen = predict("qwen2.5-vl-7b", "1xh100-sxm", input=200, output=128, images="1")
    assert seen.workload.input_len == 1569
    assert seen.tpot_s == pytest.approx(plain.tpot_s, rel=1e-9)
    extra = seen.ttft_s - plain.ttft_s
    # the tower's FLOPs at the H100's dense bf16 peak (989 TFLOP/s) is the least it can take; under 3x that
    flops = sum(encoder_flops(tower("qwen2.5-vl-7b"), 5476).values())
    assert flops / 989e12 < extra < 3 * flops / 989e12
    assert (seen.memory.weights - plain.memory.weights) / 1e9 == pytest.approx(
        tower_params(tower("qwen2.5-vl-7b")) * 2 / 1e9, rel=1e-6)
    assert any("1 image(s) x 1369 tokens = 1569 tokens" in n for n in seen.notes)
    assert "5476 patches" in seen.to_dict()["engine"]["paths"]["vision"]


def test_more_images_cost_more_and_tensor_parallelism_splits_the_tower():
    one = predict("qwen2.5-vl-7b", "dgx-h100", input=200, output=64, images="1@896x896")
    two = predict("qwen2.5-vl-7b", "dgx-h100", input=200, output=64, images="2@896x896")
    assert two.ttft_s > one.ttft_s
    tp4 = predict("qwen2.5-vl-7b", "dgx-h100", tp=4, input=200, output=64, images="2@896x896")
    assert tp4.ttft_s < two.ttft_s


def test_compare_counts_image_tokens_in_the_prompt():
    rows = compare("gemma-3-4b", ["1xh100-sxm"], input=100, output=100, precision="bf16", batch=8, images="2")
    text = compare("gemma-3-4b", ["1xh100-sxm"], input=612, output=100, precision="bf16", batch=8)
    assert rows[0]["ttft_ms"] > text[0]["ttft_ms"]  # same prompt length, plus two encoder passes


def test_the_simulator_sees_the_encoder_too():
    opts = dict(rate=1.0, output="64", requests=60, seed=1)
    seen, _ = simulate("qwen2.5-vl-7b", "1xh100-sxm", input="200", images="1", **opts)
    plain, _ = simulate("qwen2.5-vl-7b", "1xh100-sxm", input="1569", **opts)
    assert seen["ttft_ms"]["mean"] > plain["ttft_ms"]["mean"]
    with pytest.raises(SuanliError, match="fixed prompt length"):
        simulate("qwen2.5-vl-7b", "1xh100-sxm", input="uniform:low=100,high=300", images="1", **opts)


@pytest.mark.parametrize("text, words", [
    ("abc", "N[@WIDTHxHEIGHT]"), ("2@100", "N[@WIDTHxHEIGHT]"), ("0", "count"), ("65", "count"),
    ("1@0x10", "width"),
])
def test_bad_image_options_are_refused_in_one_line(text, words):
    with pytest.raises(SuanliError, match=words.replace("[", r"\[")):
        predict("qwen2.5-vl-7b", "1xh100-sxm", images=text)


def test_image_option_forms():
    assert parse_images("2@1280x720") == (2, 1280, 720)
    assert parse_images("896x896") == (1, 896, 896)
    assert parse_images("3") == (3, 1024, 1024)
    assert parse_images("") is None


def test_a_model_without_a_tower_or_with_an_unknown_one_is_refused(cli, tmp_path):
    r = cli("predict", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--images", "1")
    assert r.returncode == 2 and "no vision tower" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    cfg = dict(catalog().models["qwen2.5-vl-7b"].config)
    cfg["vision_config"] = {"model_type": "pixtral", "hidden_size": 1024}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = cli("predict", "--model", str(path), "--system", "1xh100-sxm", "--images", "1")
    assert r.returncode == 2 and "pixtral" in r.stderr and "not modelled" in r.stderr
    r = cli("predict", "--model", str(path), "--system", "1xh100-sxm")  # text prompts need no tower
    assert r.returncode == 0, r.stderr


def test_cli_and_http_give_the_same_image_prediction(cli):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from suanli.web.app import create_app

    r = cli("predict", "--model", "qwen2.5-vl-7b", "--system", "1xh100-sxm", "--images", "2@1280x720", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    with TestClient(create_app()) as c:
        h = c.post("/api/predict", json={"model": "qwen2.5-vl-7b", "system": "1xh100-sxm", "images": "2@1280x720"})
    assert h.status_code == 200, h.text
    assert h.json()["ttft_ms"] == pytest.approx(d["ttft_ms"])
    assert "vision" in h.json()["engine"]["paths"]


def test_a_qwen2_vl_tower_without_its_own_model_type_is_read_from_the_wrapper():
    """Qwen2-VL-7B's config.json: vision_config with embed_dim 1280, mlp_ratio 4 (GELU MLP), full attention, and
    `hidden_size` 3584 meaning the language model's width."""
    cfg = {"model_type": "qwen2_vl", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
           "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
           "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                             "hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2,
                             "temporal_patch_size": 2}}
    t = parse_config(cfg, "qwen2-vl").vision
    assert (t.kind, t.hidden, t.intermediate, t.gated, t.window, t.out_hidden) == ("qwen2_vl", 1280, 5120, False, 0,
                                                                                    3584)
    assert patches_and_tokens(t, 1024, 1024) == (5476, 1369)
    # 32 layers of 4h^2 + 4h attention, 2 x 1280 x 5120 + 5120 + 1280 MLP, 4h norms; a 3 x 2 x 14 x 14 patch
    # embedding; the merger 5120^2 + 5120 + 5120 x 3584 + 3584 and its 2h norm
    layer = 4 * 1280**2 + 4 * 1280 + 2 * 1280 * 5120 + 5120 + 1280 + 4 * 1280
    merger = 2 * 1280 + 5120**2 + 5120 + 5120 * 3584 + 3584
    assert tower_params(t) == 32 * layer + 3 * 2 * 14 * 14 * 1280 + merger
    assert 0.66e9 < tower_params(t) < 0.68e9  # Qwen2-VL's 675M-parameter ViT (Qwen2-VL report, table 1)


def test_qwen3_vl_towers_use_32_pixel_cells_learned_positions_and_deepstack_mergers():
    """Qwen3-VL-4B's vision_config (transformers 4.57 layout): 24 layers of width 1024, GELU MLP 4096, 16-pixel
    patches merged 2 x 2, 2304 learned positions, DeepStack features from layers 5, 11 and 17, output 2560."""
    cfg = {"model_type": "qwen3_vl", "text_config": {"model_type": "qwen3_vl_text", "hidden_size": 2560,
           "intermediate_size": 9728, "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
           "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": True},
           "vision_config": {"deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_size": 1024,
                             "intermediate_size": 4096, "model_type": "qwen3_vl", "num_heads": 16,
                             "num_position_embeddings": 2304, "out_hidden_size": 2560, "patch_size": 16,
                             "spatial_merge_size": 2, "temporal_patch_size": 2}}
    t = parse_config(cfg, "qwen3-vl-4b").vision
    assert (t.patch, t.merge, t.gated, t.positions, t.deepstack) == (16, 2, False, 2304, 3)
    assert patches_and_tokens(t, 1024, 1024) == (4096, 1024)  # 32-pixel cells: 32 x 32 tokens
    # under 65,536 pixels: scaled by sqrt(65536 / 10000) = 2.56 -> 256 px a side, 16 x 16 patches, 64 tokens
    assert patches_and_tokens(t, 100, 100) == (256, 64)
    h, m = 1024, 4096
    layer = 4 * h * h + 4 * h + 2 * h * 4096 + 4096 + h + 4 * h
    merger = m * m + m + m * 2560 + 2560
    embed = 3 * 2 * 16 * 16 * h + h + 2304 * h
    assert tower_params(t) == 24 * layer + embed + (2 * h + merger) + 3 * (2 * m + merger)
    f = encoder_flops(t, 4096)
    assert f["attention"] == pytest.approx(4 * 4096**2 * h * 24)


def test_qwen3_5_carries_its_tower_and_matches_its_published_size():
    card = catalog().models["qwen3.5-27b"]
    arch = parse_config(card.config, "qwen3.5-27b")
    assert arch.vision.kind == "qwen3_5" and arch.vision.layers == 27
    p = predict("qwen3.5-27b", "1xh200", input=100, output=32, images="1@1920x1080")
    # 1920 x 1080 -> 60 x 34 cells of 32 px (1920 x 1088) -> 2040 tokens
    assert p.workload.input_len == 100 + 60 * 34


def test_the_model_list_shows_each_tower_apart(cli):
    r = cli("catalog", "models", "--json")
    rows = {m["id"]: m for m in json.loads(r.stdout)["models"]}
    vl = rows["qwen2.5-vl-7b"]
    assert vl["vision_tower"] == "qwen2_5_vl" and vl["vision_params_b"] == pytest.approx(0.6766, abs=1e-3)
    assert vl["total_params_b"] + vl["vision_params_b"] == pytest.approx(vl["published_total_b"], rel=0.01)
    assert rows["llama-3.1-8b"]["vision_params_b"] is None
