"""Hybrid and state-space models (issue 21): Jamba (Mamba + attention + MoE) and Qwen3-Next (gated DeltaNet +
attention + MoE) from their public config.json give their published parameter counts; a layer type suanli does
not model is refused in one line."""

from __future__ import annotations

import json

import pytest

from suanli.model.arch import parse_config
from suanli.model.params import count_params
from suanli.schema import SuanliError

# https://huggingface.co/ai21labs/Jamba-v0.1/blob/main/config.json (the same architecture as Jamba-1.5-Mini):
# "52B total parameters, 12B active" (AI21's model card and the Jamba paper, arXiv 2403.19887)
JAMBA = {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "hidden_size": 4096,
         "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
         "vocab_size": 65536, "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
         "expert_layer_offset": 1, "num_experts": 16, "num_experts_per_tok": 2, "mamba_d_state": 16,
         "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 256, "mamba_conv_bias": True,
         "mamba_proj_bias": False, "tie_word_embeddings": False}
# https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json: 80B total, 3B activated
QWEN3_NEXT = {"architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 2048,
              "num_hidden_layers": 48, "vocab_size": 151936, "head_dim": 256, "num_attention_heads": 16,
              "num_key_value_heads": 2, "intermediate_size": 5120, "num_experts": 512, "num_experts_per_tok": 10,
              "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512, "decoder_sparse_step": 1,
              "linear_num_key_heads": 16, "linear_key_head_dim": 128, "linear_num_value_heads": 32,
              "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "full_attention_interval": 4,
              "tie_word_embeddings": False}


@pytest.mark.parametrize("cfg,total,active", [(JAMBA, 52e9, 12e9), (QWEN3_NEXT, 80e9, 3e9)])
def test_published_counts_within_5_percent(cfg, total, active):
    pc = count_params(parse_config(cfg, cfg["model_type"]))
    assert pc.total == pytest.approx(total, rel=0.05)
    assert pc.active == pytest.approx(active, rel=0.35)  # "A3B"/"12B" are rounded marketing figures


def test_jamba_layers_by_hand():
    a = parse_config(JAMBA, "jamba")
    kinds = sorted((g.attn.kind, g.mlp.kind, g.count) for g in a.groups)
    assert kinds == [("linear", "dense", 12), ("linear", "moe", 16), ("mha", "dense", 4)]
    mamba = next(g.attn for g in a.groups if g.attn.kind == "linear")
    # the state per sequence and layer: inner channels x (conv window + SSM state) = 8192 x (4 + 16)
    assert mamba.state_elems() == 8192 * 20
    # one Mamba mixer by hand: in 4096x16384, conv 8192x(4+1), x_proj 8192x288, dt_proj 256x8192+8192, A 8192x16,
    # D 8192, out 8192x4096, norms 256+32
    by_hand = 4096 * 16384 + 8192 * 5 + 8192 * 288 + 256 * 8192 + 8192 + 8192 * 16 + 8192 + 8192 * 4096 + 288
    from suanli.model.params import attention_params

    assert attention_params(mamba, 4096) == by_hand


def test_a_jamba_config_predicts(cli, tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(JAMBA))
    r = cli("predict", "-m", str(p), "-s", "2xh100-sxm", "--tp", "2", "--batch", "8", "--input", "4096", "--output",
            "256", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # bf16 weights of 51.6 B parameters over two chips; the Mamba state, not a KV cache, for 28 of 32 layers
    assert out["tpot_ms"] > 0 and out["memory_gb_per_chip"]["weights"] == pytest.approx(51.57, rel=0.03)


def test_an_unsupported_layer_type_is_one_line(cli, tmp_path):
    bad = dict(QWEN3_NEXT, layer_types=["linear_attention", "mamba2", "linear_attention", "full_attention"] * 12)
    with pytest.raises(SuanliError, match="'mamba2' .* not a layer type"):
        parse_config(bad, "bad")
    p = tmp_path / "config.json"
    p.write_text(json.dumps(bad))
    r = cli("predict", "-m", str(p), "-s", "1xh100-sxm")
    assert r.returncode == 2 and "mamba2" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# https://huggingface.co/nvidia/Nemotron-H-8B-Base-8K/blob/main/config.json (its fields that matter here): 52 layers
# whose pattern mixes Mamba-2 ('M'), attention ('*') and MLP ('-') layers
NEMOTRON_H = {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "hidden_size": 4096,
              "num_hidden_layers": 52, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 131072,
              "intermediate_size": 21504, "mamba_num_heads": 128, "mamba_head_dim": 64, "ssm_state_size": 128,
              "hybrid_override_pattern": "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"}


def test_a_mamba2_hybrid_is_refused_not_misread(cli, tmp_path):
    """Read as attention + MLP layers, Nemotron-H 8B would be 17 B parameters: it is refused in one line."""
    with pytest.raises(SuanliError, match="Mamba-2 .*hybrid_override_pattern"):
        parse_config(NEMOTRON_H, "nemotron-h")
    assert count_params(parse_config(JAMBA, "jamba")).total == pytest.approx(52e9, rel=0.05)  # Jamba still reads
    p = tmp_path / "config.json"
    p.write_text(json.dumps(NEMOTRON_H))
    r = cli("predict", "-m", str(p), "-s", "1xh100-sxm")
    assert r.returncode == 2 and "Mamba-2" in r.stderr and len(r.stderr.strip().splitlines()) == 1
