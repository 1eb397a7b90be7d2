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
# whose pattern mixes Mamba-2 ('M'), attention ('*') and MLP ('-') layers; the Nemotron-H paper (arXiv 2504.03624,
# table 1): 24 Mamba-2, 4 self-attention and 24 FFN layers, model dimension 4096, FFN 21504, 8 Mamba groups
NEMOTRON_H = {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "hidden_size": 4096,
              "num_hidden_layers": 52, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 131072,
              "attention_head_dim": 128, "intermediate_size": 21504, "mamba_num_heads": 128, "mamba_head_dim": 64,
              "ssm_state_size": 128, "n_groups": 8, "conv_kernel": 4, "expand": 2,
              "hybrid_override_pattern": "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"}
# Falcon-H1 runs attention and a Mamba-2 mixer side by side in every layer: not modelled yet
FALCON_H1 = {"model_type": "falcon_h1", "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 8,
             "num_key_value_heads": 2, "vocab_size": 65537, "intermediate_size": 4608, "mamba_d_ssm": 3072,
             "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_d_state": 256, "mamba_n_groups": 1}


def test_nemotron_h_reads_its_pattern_layer_by_layer():
    """Each of Nemotron-H's layers is one block: 24 Mamba-2 mixers, 4 attention layers, 24 squared-ReLU MLPs (two
    matrices): 8.10 B parameters (NVIDIA's '8B'), where reading every layer as attention + MLP made 17 B. Only
    the 4 attention layers cache K and V; the mixers keep a state per sequence."""
    arch = parse_config(NEMOTRON_H, "nemotron-h")
    kinds = {(g.attn.kind, g.mlp.intermediate): g.count for g in arch.groups}
    assert kinds == {("linear", 0): 24, ("mha", 0): 4, ("none", 21504): 24}
    assert count_params(arch).total == pytest.approx(8.10e9, rel=0.01)
    mixer = next(g.attn for g in arch.groups if g.attn.kind == "linear")
    # per sequence and layer: 8192 channels x 128 states, and the conv window over x, B and C (8192 + 2 x 8 x 128)
    assert mixer.state_elems() == 8192 * 128 + 4 * (8192 + 2 * 8 * 128)
    assert sum(g.count * g.attn.kv_cache_elems() for g in arch.groups) == 4 * 8 * (128 + 128)


def test_a_mamba2_family_not_modelled_is_refused_in_one_line(cli, tmp_path):
    with pytest.raises(SuanliError, match="Mamba-2 state-space layers .*not modelled"):
        parse_config(FALCON_H1, "falcon-h1")
    assert count_params(parse_config(JAMBA, "jamba")).total == pytest.approx(52e9, rel=0.05)  # Jamba still reads
    p = tmp_path / "config.json"
    p.write_text(json.dumps(FALCON_H1))
    r = cli("predict", "-m", str(p), "-s", "1xh100-sxm")
    assert r.returncode == 2 and "Mamba-2" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = dict(NEMOTRON_H, hybrid_override_pattern=NEMOTRON_H["hybrid_override_pattern"][:-1] + "E")
    with pytest.raises(SuanliError, match="MoE .* n_routed_experts is 0"):
        parse_config(bad, "nemotron-h-moe")
    with pytest.raises(SuanliError, match="layer type 'X' is not modelled"):
        parse_config(dict(NEMOTRON_H, hybrid_override_pattern="X" * 52), "nemotron-h-x")


def test_nemotron_h_moe_layers_by_hand():
    """A Nemotron-H with MoE ('E') layers (Nemotron 3's pattern letters), counted by hand: embeddings and an untied
    head 2 x 100 x 64; a Mamba-2 layer (64 channels, 4 heads, 2 groups of 8 states) 64 x 164 + 96 x 5 + 12 + 64 +
    64 x 64 = 15,148; an attention layer 3 x 4,096; each MoE layer a router 64 x 4, one shared squared-ReLU expert
    2 x 64 x 48 and four routed ones 2 x 64 x 32 (two active); one norm per layer and the final one."""
    cfg = {"model_type": "nemotron_h", "hidden_size": 64, "num_hidden_layers": 4, "vocab_size": 100,
           "hybrid_override_pattern": "ME*E", "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 8,
           "n_groups": 2, "conv_kernel": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
           "attention_head_dim": 16, "intermediate_size": 128, "n_routed_experts": 4, "num_experts_per_tok": 2,
           "moe_intermediate_size": 32, "moe_shared_expert_intermediate_size": 48}
    pc = count_params(parse_config(cfg, "tiny-nemotron-moe"))
    assert pc.total == 2 * 6400 + 15148 + 12288 + 2 * (256 + 6144 + 4 * 4096) + 5 * 64
    assert pc.active == 2 * 6400 + 15148 + 12288 + 2 * (256 + 6144 + 2 * 4096) + 5 * 64


def test_mamba2_prompts_run_as_matrix_products_and_decodes_as_the_recurrence():
    """Mamba-Codestral (pure Mamba-2, the catalog's published count to the parameter): its prompts take SSD's
    chunked form on the matrix units (2 x 128 heads x (256 x (128 + 64) + 2 x 128 x 64) FLOPs a token and layer),
    its decodes the fp32 recurrence, whose state (8192 x 128 + 4 x 10,240 per layer) is read and written per step."""
    from suanli.api import predict
    from suanli.catalog import catalog

    arch = parse_config(catalog().models["mamba-codestral-7b"].config, "cm")
    assert count_params(arch).total == 7_285_403_648
    p = predict("mamba-codestral-7b", "1xh100-sxm", batch=8, input=2048, output=128)
    dep = p.timed_from[0]
    ops = {o.name: o for o in dep.ops}
    assert ops["ssd_chunked"].flops["prefill_tokens"] == pytest.approx(2 * 128 * (256 * 192 + 2 * 128 * 64)
                                                                       + 10240 * 8)
    assert ops["ssd_chunked"].dtype == dep.numerics.attn_dtype and ops["ssd_step"].dtype == "fp32"
    assert ops["ssd_step"].bytes["seqs"] == pytest.approx(2 * 4.0 * (8192 * 128 + 4 * 10240))
    assert p.tpot_s > 0 and p.memory.kv_cache > 0  # the states take the cache's place
    with pytest.raises(SuanliError, match="does not divide the 128 Mamba-2 heads"):
        predict("mamba-codestral-7b", "8xh100-sxm", tp=3, batch=1)
