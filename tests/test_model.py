"""Architectures: parameter counts against published totals and hand calculations."""

import pytest

from suanli.catalog import catalog
from suanli.model.arch import parse_config
from suanli.model.params import count_params
from suanli.model.resolve import model_arch
from suanli.model.vision import tower_params
from suanli.schema import SuanliError


def test_llama_3_1_70b_by_hand():
    _, a = model_arch("llama-3.1-70b")
    h, inter, layers, vocab = 8192, 28672, 80, 128256
    attn = h * (64 * 128) * 2 + h * (8 * 128) * 2  # q, o, k, v
    mlp = 3 * h * inter
    expected = layers * (attn + mlp + 2 * h) + h + 2 * vocab * h
    assert count_params(a).total == expected
    assert expected == pytest.approx(70.55e9, rel=1e-3)


# (model, total B, active B) as published; the sources are in each model file's "published" field.
PUBLISHED = [
    ("llama-3.1-70b", 70.6, None),
    ("deepseek-v3", 671, 37),
    ("mixtral-8x7b", 46.7, 12.9),
    ("qwen3-235b-a22b", 235, 22),
]


@pytest.mark.parametrize("model,total,active", PUBLISHED)
def test_published_param_counts(model, total, active):
    if model not in catalog().models:
        pytest.skip(f"{model} not in catalog yet")
    _, a = model_arch(model)
    pc = count_params(a)
    assert pc.total / 1e9 == pytest.approx(total, rel=0.01)
    if active:
        assert pc.active / 1e9 == pytest.approx(active, rel=0.03)


def _tolerance(published: float) -> float:
    """Published counts are rounded ("8B", "1.7B", "235B"): allow half a unit of the last significant digit,
    and at least 1%."""
    text = f"{published:g}"
    digits = text.split(".")[1] if "." in text else ""
    unit = 10 ** -len(digits) if digits else 10 ** (len(text) - len(text.rstrip("0")))
    return max(0.01, 0.5 * unit / published + 0.002)


def test_every_catalog_model_matches_its_published_total():
    bad = []
    for m in catalog().models.values():
        pub = m.published
        arch = parse_config(m.config, m.id)
        tower = tower_params(arch.vision) if arch.vision and not arch.vision.unsupported else 0.0
        if not pub.total_params_b or (pub.includes and not tower):  # a vision tower counted where it is modelled
            continue
        pc = count_params(arch)
        total = pc.total + tower
        with_mtp = total + arch.mtp_layers * (pc.attention + pc.mlp_total) / arch.layers  # some count MTP layers
        tol = _tolerance(pub.total_params_b)
        if all(abs(t / 1e9 / pub.total_params_b - 1) > tol for t in (total, with_mtp)):
            bad.append(f"{m.id}: {pc.total / 1e9:.2f}B vs published {pub.total_params_b}B (tolerance {tol:.1%})")
    assert not bad, bad


def test_tolerance_of_rounded_counts():
    assert _tolerance(70.6) == pytest.approx(0.01)
    assert _tolerance(1.7) == pytest.approx(0.05 / 1.7 + 0.002)
    assert _tolerance(1000) == pytest.approx(500 / 1000 + 0.002)


def test_every_catalog_model_parses():
    for m in catalog().models.values():
        a = parse_config(m.config, m.id)
        assert a.layers > 0 and a.hidden > 0


def test_sliding_window_layers_are_grouped():
    cfg = {"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128, "vocab_size": 100,
           "sliding_window": 32}
    a = parse_config(cfg)
    windows = sorted((g.attn.window or 0, g.count) for g in a.groups)
    assert windows == [(0, 2), (32, 2)]


def test_moe_first_dense_layers():
    cfg = {"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 5, "num_attention_heads": 4,
           "q_lora_rank": 16, "kv_lora_rank": 8, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
           "intermediate_size": 128, "moe_intermediate_size": 32, "n_routed_experts": 8, "num_experts_per_tok": 2,
           "n_shared_experts": 1, "first_k_dense_replace": 2, "vocab_size": 100}
    a = parse_config(cfg)
    kinds = sorted((g.mlp.kind, g.count) for g in a.groups)
    assert kinds == [("dense", 2), ("moe", 3)]
    moe = next(g.mlp for g in a.groups if g.mlp.kind == "moe")
    assert moe.shared_intermediate == 32 and moe.experts == 8 and moe.topk == 2


def test_ernie_moe_reads_its_own_expert_keys():
    """ERNIE 4.5 names top-k `moe_k`, shared experts `moe_num_shared_experts` and routes only from
    `moe_layer_start_index`: layer 0 stays dense."""
    arch = parse_config(catalog().models["ernie-4.5-21b-a3b"].config, "ernie")
    kinds = [g.mlp.kind for g in arch.groups for _ in range(g.count)]
    assert kinds == ["dense"] + ["moe"] * 27
    moe = next(g.mlp for g in arch.groups if g.mlp.kind == "moe")
    assert (moe.experts, moe.topk, moe.shared_intermediate) == (64, 6, 2 * 1536)
    assert 3.0 < count_params(arch).active / 1e9 < 3.6  # "A3B": 3B a token, plus the 0.26B embedding


def test_hunyuan_per_layer_lists_read_as_one_value():
    """Hunyuan-A13B gives moe_intermediate_size, moe_topk and num_shared_expert once per layer (32 equal values);
    they read as that value, and num_shared_expert is the shared-expert count."""
    arch = parse_config(catalog().models["hunyuan-a13b"].config, "hunyuan")
    assert [g.mlp.kind for g in arch.groups] == ["moe"] and arch.layers == 32
    moe = arch.groups[0].mlp
    assert (moe.experts, moe.topk, moe.expert_intermediate, moe.shared_intermediate) == (64, 8, 3072, 3072)
    pc = count_params(arch)
    assert pc.total / 1e9 == pytest.approx(80, rel=0.02)  # "80B total"
    assert pc.active / 1e9 == pytest.approx(13, rel=0.03)  # "13B active"


@pytest.mark.parametrize("key,values", [("moe_topk", [8] * 31 + [4]), ("moe_intermediate_size", []),
                                        ("num_shared_expert", [1, 0] * 16)])
def test_per_layer_list_that_varies_is_refused(key, values):
    cfg = {**catalog().models["hunyuan-a13b"].config, key: values}
    with pytest.raises(SuanliError, match=key) as err:
        parse_config(cfg, "hunyuan")
    assert "\n" not in str(err.value)


def test_rwkv6_counts_its_reference_layer_structure():
    """RWKV-6 (Finch) 1.6B, tensor by tensor as HF modeling_rwkv6.py builds it: the paper's 1.6B."""
    c, layers, vocab, ffn = 2048, 24, 65536, 7168  # ffn = int(3.5 * 2048) // 32 * 32
    time_mix = 5 * c * c + 2 * c * 5 * 32 + 2 * c * 64 + 10 * c  # r,k,v,g,o; shift and decay LoRAs; vectors, ln_x
    channel_mix = 2 * c * ffn + c * c + 2 * c  # key, value, receptance; 2 shift mixes
    expected = layers * (time_mix + channel_mix + 4 * c) + 4 * c + 2 * vocab * c  # ln1/ln2; ln0, ln_out; emb, head
    arch = parse_config(catalog().models["rwkv-6-1.6b"].config, "rwkv6")
    assert arch.groups[0].attn.kind == "linear" and arch.groups[0].attn.lin_k_heads == 32
    assert count_params(arch).total == expected
    assert expected / 1e9 == pytest.approx(1.6, rel=1e-3)
    # width 4096 (Finch 7B/14B) widens both LoRAs, as the reference code does
    wide = parse_config({**catalog().models["rwkv-6-14b"].config, "num_hidden_layers": 1}, "rwkv6")
    assert wide.groups[0].attn.lin_lowrank == 5 * 64 + 128


def test_cross_attention_layers_are_refused_not_counted_as_decoder_layers():
    cfg = {"model_type": "mllama_text_model", "hidden_size": 4096, "num_hidden_layers": 40,
           "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
           "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38]}
    with pytest.raises(SuanliError, match="cross-attention layers"):
        parse_config({"model_type": "mllama", "text_config": cfg}, "llama-3.2-11b-vision")
